"""The ``Notifier``: plans the outbox on a timer and delivers it, at least once.

It is a task of its own (in the poller's process, or alone with ``noc notify run``) that talks
to the rest only through the store, so a slow or dead endpoint can never hold a poller up:

* every attempt runs as its own task under a deadline (the channel's ``timeout``), at most
  ``concurrency`` at once and ``per_channel`` per channel, so a hanging endpoint ties up only
  its own slots while the other channels' rows go out;
* a row is claimed with a lease before its attempt, marked ``sent`` only after a 2xx answer,
  and otherwise scheduled again with exponential backoff and jitter until ``max_attempts``;
  a worker that dies mid-attempt leaves the row due again once the lease runs out;
* every attempt appends ``notification.sent`` or ``notification.failed``; errors name the
  channel and its masked URL, never the URL itself or a header's secret.

One ``httpx.AsyncClient`` serves every channel (its pool reuses connections to a webhook host).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import httpx
from sqlalchemy import select

from noc.config import NotifySettings
from noc.errors import NocError, SecretError
from noc.notify.errors import DeliveryError
from noc.notify.formats import Message, render
from noc.notify.gate import GateLoader, alerting_gate
from noc.notify.outbox import Attempt, Claimed, PlanReport, claim, plan_due, record_attempts
from noc.notify.rules import TICKET_CHANNEL, Channel, RuleSet, RulesFile
from noc.secrets import mask_url
from noc.storage.models import Event
from noc.storage.store import Store

log = logging.getLogger(__name__)

LEASE_MARGIN_S = 30.0
"""How long past its channel's timeout a claimed row stays claimed."""
ALERT_EVENT_PREFIX = "alert."


class Sender(Protocol):
    async def send(self, row: Claimed, rules: RuleSet) -> str:
        """Deliver one row; return a short detail (``HTTP 200``) or raise ``DeliveryError``."""
        ...


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every secret (and its URL form) that an error message may repeat."""
    for secret in sorted(set(s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, mask_url(secret) if "://" in secret else "****")
    return text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides


class WebhookSender:
    """POSTs a rendered payload to a channel's URL with one shared client."""

    def __init__(self, http: httpx.AsyncClient, environ: Mapping[str, str] | None = None):
        self.http = http
        self.environ = environ

    async def send(self, row: Claimed, rules: RuleSet) -> str:
        channel = rules.channels.get(row.channel)
        if channel is None:
            raise DeliveryError(f"channel {row.channel!r} is not in the rules file", retry=False)
        return await self.post(channel, Message.from_payload(row.payload), row.id)

    async def post(self, channel: Channel, message: Message, notification_id: int | None) -> str:
        rendered = render(channel.kind, message, notification_id)
        where = f"channel {channel.name} ({channel.shown_url})"
        try:
            url = channel.url.resolve(self.environ)
            extra = {name: value.resolve(self.environ) for name, value in channel.headers.items()}
        except SecretError as exc:
            raise DeliveryError(f"{where}: {exc}") from None
        secrets = [url, *extra.values()]
        try:
            response = await self.http.post(
                url,
                content=rendered.content,
                headers={**rendered.headers, **extra},
                timeout=channel.timeout_s,
            )
        except httpx.TimeoutException:
            raise DeliveryError(f"{where}: no answer within {channel.timeout_s:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            detail = scrub(str(exc) or type(exc).__name__, secrets)
            raise DeliveryError(f"{where}: {type(exc).__name__}: {detail}") from None
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        retry = status in (408, 425, 429) or status >= 500
        raise DeliveryError(
            f"{where}: HTTP {status}" + ("" if retry else " (not retried: the request is refused)"),
            retry=retry,
            retry_after=_retry_after(response),
        )


class _Recorder:
    """Group commit: attempts that finish while a write is in progress are written together
    by the next one, so the outbox keeps up with the endpoints even on SQLite, where every
    commit is a sync to disk and all writers queue for one lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[tuple[Claimed, Attempt, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()

    async def record(self, row: Claimed, attempt: Attempt) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((row, attempt, done))
        async with self._lock:
            if not done.done():
                batch, self._queue = self._queue, []
                try:
                    await record_attempts(self.store, [(r, a) for r, a, _ in batch])
                except asyncio.CancelledError:
                    for _, _, waiter in batch:
                        waiter.cancel()
                    raise
                except Exception as exc:  # each attempt's task reports it for its row
                    for _, _, waiter in batch:
                        waiter.set_exception(exc)
                else:
                    for _, _, waiter in batch:
                        waiter.set_result(None)
        await done


@dataclass
class Counts:
    attempts: int = 0
    sent: int = 0
    failed: int = 0
    """Failed attempts (a row may fail several times before it is sent)."""
    given_up: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)


class Notifier:
    def __init__(
        self,
        store: Store,
        settings: NotifySettings,
        *,
        rules: RuleSet | RulesFile | None = None,
        gate: GateLoader = alerting_gate,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
        senders: Mapping[str, Sender] | None = None,
        environ: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        tick_s: float = 1.0,
        plan_every_s: float = 5.0,
        concurrency: int = 16,
        per_channel: int = 4,
    ) -> None:
        """``rules`` defaults to the file named by ``settings.rules_file``, read again when it
        changes. ``senders`` maps a channel name to its sender; channels not in it use the
        webhook sender and ``@ticket`` the ticket automation."""
        self.store = store
        self.settings = settings
        if rules is None:
            rules = RulesFile(settings.rules_file, on_error=log.error)
        self._rules = rules
        self.gate = gate
        self.clock = clock
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(
            follow_redirects=False, limits=httpx.Limits(max_connections=concurrency)
        )
        self.webhooks = WebhookSender(self.http, environ)
        self.senders = dict(senders or {})
        if TICKET_CHANNEL not in self.senders:
            # Imported here: the automation builds on the outbox, so it imports noc.notify.
            from noc.automation.alert_tickets import TicketSender

            self.senders[TICKET_CHANNEL] = TicketSender(store, clock=clock)
        self.rng = rng or random.Random()
        self.tick_s = tick_s
        self.plan_every_s = plan_every_s
        self.concurrency = concurrency
        self.per_channel = per_channel
        self.counts = Counts()
        self._inflight: dict[asyncio.Task[None], str] = {}
        self._wake = asyncio.Event()
        self._next_plan = float("-inf")
        self._next_look = float("-inf")
        self._last_event_id: int | None = None
        self._recorder = _Recorder(store)

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._own_http:
            await self.http.aclose()

    @property
    def rules(self) -> RuleSet:
        if isinstance(self._rules, RulesFile):
            return self._rules.current()
        return self._rules

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def wake(self) -> None:
        """Look at the outbox now rather than at the next tick (new rows were written)."""
        self._wake.set()

    # planning -------------------------------------------------------------------------------

    async def plan_once(self, now: float | None = None) -> PlanReport:
        report = await plan_due(
            self.store, self.rules, self.clock() if now is None else now, gate=self.gate
        )
        if report.queued:
            self._wake.set()
        return report

    async def _alert_activity(self) -> bool:
        """Whether alerts changed since the last look (one indexed query on the event bus), so
        that a new alert is planned at once instead of at the next planning tick."""
        async with self.store.read() as session:
            if self._last_event_id is None:
                self._last_event_id = int(
                    await session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
                )
                return False
            rows = (
                await session.execute(
                    select(Event.id, Event.kind)
                    .where(Event.id > self._last_event_id)
                    .order_by(Event.id)
                    .limit(5000)
                )
            ).all()
        if not rows:
            return False
        self._last_event_id = int(rows[-1][0])
        return any(kind.startswith(ALERT_EVENT_PREFIX) for _, kind in rows)

    # delivery -------------------------------------------------------------------------------

    def _room(self, channel: str) -> int:
        busy = sum(1 for name in self._inflight.values() if name == channel)
        limit = 1 if channel == TICKET_CHANNEL else self.per_channel
        return max(0, limit - busy)

    def _lease(self) -> float:
        timeouts = [c.timeout_s for c in self.rules.channels.values()]
        return max(timeouts, default=10.0) + LEASE_MARGIN_S

    async def deliver_once(self) -> int:
        """Claim the due rows there is room for and start their attempts; returns how many."""
        rows = await claim(
            self.store,
            self.clock(),
            limit=self.concurrency - len(self._inflight),
            room=self._room,
            lease_s=self._lease(),
        )
        for row in rows:
            task = asyncio.create_task(self._attempt(row), name=f"notification-{row.id}")
            self._inflight[task] = row.channel
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("notification attempt crashed", exc_info=task.exception())

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """``backoff_s`` doubling per attempt up to ``backoff_max_s``, with "equal jitter" (half
        fixed, half random) so that rows failing together do not all retry together."""
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_s * 2.0 ** max(0, attempts - 1))
        delay = delay / 2 + self.rng.random() * delay / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, s.backoff_max_s))
        return delay

    def _failed(
        self, row: Claimed, detail: str, retry: bool, retry_after: float | None = None
    ) -> Attempt:
        attempts = row.attempts + 1
        now = self.clock()
        retry = retry and attempts < self.settings.max_attempts
        self.counts.failed += 1
        if not retry:
            self.counts.given_up += 1
        when = now + self.backoff(attempts, retry_after) if retry else None
        return Attempt(False, detail, now, when)

    async def _attempt(self, row: Claimed) -> None:
        sender = self.senders.get(row.channel, self.webhooks)
        self.counts.attempts += 1
        try:
            detail = await sender.send(row, self.rules)
            outcome = Attempt(True, detail, self.clock())
            self.counts.sent += 1
            self.counts.by_channel[row.channel] += 1
        except DeliveryError as exc:
            log.warning("notification %s attempt %s: %s", row.id, row.attempts + 1, exc)
            outcome = self._failed(row, str(exc), exc.retry, exc.retry_after)
        except Exception as exc:  # a bug must cost attempts too, or the row would loop forever
            # Only the type: the message of an exception nobody expected may carry a URL.
            kind = type(exc).__name__
            log.error("notification %s: unexpected %s in its sender", row.id, kind)
            detail = f"channel {row.channel}: unexpected {kind} (see the notifier's log)"
            outcome = self._failed(row, detail, True)
        try:
            await self._recorder.record(row, outcome)
        except NocError as exc:  # the lease runs out and the row is tried again
            log.error("notification %s: cannot record the attempt: %s", row.id, exc)

    async def drain(self, within: float | None = None) -> None:
        """Wait for the attempts in flight (tests, and a clean shutdown)."""
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=within)

    # the loop -------------------------------------------------------------------------------

    async def step(self) -> None:
        """One turn of the loop: plan if it is time (or alerts changed), then deliver.

        The bus is looked at once a tick however often attempts end, and rows are claimed once
        a quarter of the slots is free: each costs a transaction, and on SQLite a connection.
        """
        now = self.clock()
        if now >= self._next_look:
            self._next_look = now + self.tick_s
            try:
                changed = await self._alert_activity()  # first, so that it always keeps up
                if changed or now >= self._next_plan:
                    self._next_plan = now + self.plan_every_s
                    await self.plan_once(now)
            except NocError as exc:
                log.error("notification planning failed: %s", exc)
        free = self.concurrency - len(self._inflight)
        if free < max(1, self.concurrency // 4) and self._inflight:
            return
        try:
            await self.deliver_once()
        except NocError as exc:
            log.error("notification delivery failed: %s", exc)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                await self.step()
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {waker, stopper}, timeout=self.tick_s, return_when="FIRST_COMPLETED"
                )
                waker.cancel()
        finally:
            stopper.cancel()
            await self.drain(within=5.0)
