"""Automation: what the system does by itself when alerts change (alert to ticket)."""

from noc.automation.alert_tickets import TicketSender, note_recovery, open_for_alert

__all__ = ["TicketSender", "note_recovery", "open_for_alert"]
