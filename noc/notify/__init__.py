"""Notifications: the rules file, payload formats, the outbox planner and the ``Notifier``.

An alert change becomes outbox rows (``outbox.plan``), rows become HTTP requests
(``delivery.Notifier``); both sides meet only in the ``notifications`` table, so delivery never
holds up the evaluator or the pollers.
"""

from noc.notify.delivery import Notifier, WebhookSender
from noc.notify.errors import DeliveryError, NotifyError, RulesError
from noc.notify.formats import Message, render
from noc.notify.gate import Gate, GateLoader, alerting_gate
from noc.notify.outbox import PlanReport, plan, plan_due
from noc.notify.rules import Channel, Rule, RuleSet, RulesFile, TicketRule, load_rules, parse_rules

__all__ = [
    "Channel",
    "DeliveryError",
    "Gate",
    "GateLoader",
    "Message",
    "Notifier",
    "NotifyError",
    "PlanReport",
    "Rule",
    "RuleSet",
    "RulesError",
    "RulesFile",
    "TicketRule",
    "WebhookSender",
    "alerting_gate",
    "load_rules",
    "parse_rules",
    "plan",
    "plan_due",
    "render",
]
