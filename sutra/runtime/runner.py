"""Drive sessions: inbound message -> engine -> effects (webhooks, messages, storage) -> outbound.

The engine decides; the runner does the I/O it asks for. A webhook the session waits on is
performed here, logged, and its outcome handed back to the engine, until the session waits for
the contact again (or ends). Every step is stored before the next one starts, so a process can
stop at any point and another can carry on from the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sutra.engine import events as ev
from sutra.engine.engine import Engine, Sprint, TimeElapsed, Timeout
from sutra.engine.session import Contact, Environment, Input, Session
from sutra.flows.models import Flow
from sutra.functions.services import Services
from sutra.runtime import metrics
from sutra.runtime.webhooks import CallContext, WebhookSettings, perform
from sutra.store.repository import Repository

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Send = Callable[[Contact, ev.MsgOut, str], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What handling one input did: the events, in order, and the session as it stands."""

    events: list[ev.Event] = field(default_factory=list)
    session: Session | None = None
    started_flow: str | None = None


class Runner:
    def __init__(
        self,
        repo: Repository,
        *,
        services: Services | None = None,
        channel: str = "cli",
        send: Send | None = None,
        clock: Clock = utcnow,
        webhook_settings: WebhookSettings | None = None,
        timezone: str = "UTC",
        skip_time_waits: bool = False,
    ) -> None:
        self.repo = repo
        self.services = services or Services()
        self.channel = channel
        self.send = send
        self.clock = clock
        self.webhook_settings = webhook_settings or WebhookSettings()
        self.timezone = timezone
        # A simulation has no reason to sit through wait_for_time: it moves its clock instead.
        self.skip_time_waits = skip_time_waits
        self.channels_by_scheme: dict[str, str] = {}
        self._skipped = timedelta(0)
        self._flows: dict[str, Flow] = {}
        self._engine: Engine | None = None
        self._keywords: dict[str, str] = {}
        self._engine_checked = 0.0
        self.refresh_every = 1.0
        self._flows_version: tuple[int, int] | None = None

    def channel_for(self, contact: Contact) -> str:
        """Where a contact's replies go: back the way they last wrote, else by their urn."""
        if contact.channel:
            return contact.channel
        scheme = (contact.urn or "").partition(":")[0]
        return self.channels_by_scheme.get(scheme, self.channel)

    def now(self) -> datetime:
        return self.clock() + self._skipped

    async def engine(self) -> Engine:
        # Flows and globals change rarely; looking again at most once a second keeps every
        # message from paying for it, and another process's import shows within that second.
        if self._engine is None or time.monotonic() - self._engine_checked > self.refresh_every:
            version = await self.repo.flows_version()
            if version != self._flows_version:
                self._flows = await self.repo.load_flows()
                self._flows_version = version
            env = Environment(
                timezone=self.timezone,
                globals=await self.repo.globals(),
                organization_id=self.repo.org,
            )
            self._engine = Engine(self._flows, env)
            self._keywords = await self.repo.keywords()
            self._engine_checked = time.monotonic()
        return self._engine

    def invalidate(self) -> None:
        """Forget cached flows and globals (after an import in this process)."""
        self._engine = None

    # --- entry points ------------------------------------------------------------------------

    async def start(
        self, contact: Contact, flow_uuid: str, *, trigger: Input | None = None
    ) -> Outcome:
        engine = await self.engine()
        waiting = await self.repo.waiting_session(contact.id) if contact.id else None
        outcome = Outcome(started_flow=flow_uuid)
        if waiting is not None:
            await self._step(engine.interrupt(waiting, now=self.now()), engine, outcome)
        sprint = engine.start(flow_uuid, contact, now=self.now(), trigger=trigger)
        await self._step(sprint, engine, outcome, consumed=trigger.uuid if trigger else None)
        return outcome

    async def carry_on(self, session: Session) -> Outcome:
        """Finish what a stored session waits on (a webhook cut short by a restart)."""
        engine = await self.engine()
        outcome = Outcome(session=session)
        await self._step(Sprint(session), engine, outcome)
        return outcome

    async def receive(
        self,
        contact: Contact,
        message: Input,
        *,
        external_id: str | None = None,
        payload: dict | None = None,
    ) -> Outcome | None:
        """Store and handle an inbound message; None when it is a repeated delivery."""
        if not await self.repo.add_incoming(
            contact, message, channel=self.channel, external_id=external_id, payload=payload
        ):
            return None
        return await self.handle(contact, message)

    async def handle(self, contact: Contact, message: Input) -> Outcome:
        """A keyword starts its flow; otherwise the contact's waiting session gets the message."""
        outcome = await self._handle(contact, message)
        metrics.MESSAGES_HANDLED.inc()
        return outcome

    async def _handle(self, contact: Contact, message: Input) -> Outcome:
        engine = await self.engine()
        keyword_flow = self._keywords.get(message.text.strip().lower())
        if keyword_flow is not None:
            return await self.start(contact, keyword_flow, trigger=message)
        session = await self.repo.waiting_session(contact.id) if contact.id else None
        outcome = Outcome(session=session)
        if session is not None:
            # Reply the way this message came, even if the session began on another channel.
            session.contact.channel = contact.channel
        if session is None or session.wait is None or session.wait.kind != "msg":
            # No flow is listening: the message stays stored, for staff to read.
            await self.repo.mark_message(message.uuid, "handled")
            return outcome
        sprint = engine.resume(session, message, now=self.now())
        await self._step(sprint, engine, outcome, consumed=message.uuid)
        return outcome

    async def fire_timeout(self, session: Session) -> Outcome:
        """A wait's timeout or a timed pause is due: carry the session on."""
        engine = await self.engine()
        outcome = Outcome(session=session)
        wait = session.wait
        if wait is None:
            return outcome
        now = self.now()
        resume = TimeElapsed() if wait.kind == "time" else Timeout()
        await self._step(engine.resume(session, resume, now=now), engine, outcome)
        return outcome

    # --- the loop ----------------------------------------------------------------------------

    async def _step(
        self, sprint: Sprint, engine: Engine, outcome: Outcome, consumed: str | None = None
    ) -> None:
        while True:
            await self._record(sprint, outcome, consumed)
            consumed = None
            session = sprint.session
            wait = session.wait
            if session.status != "waiting" or wait is None:
                return
            if wait.kind == "webhook" and wait.request is not None:
                request = wait.request
                context = CallContext(
                    organization_id=self.repo.org,
                    flow_uuid=request.flow_uuid,
                    contact_id=session.contact.id,
                    result_name=request.result_name,
                )
                result, call_log = await perform(
                    request, context, self.services, self.webhook_settings
                )
                await self.repo.add_webhook_log(
                    call_log,
                    contact_id=session.contact.id,
                    flow_uuid=request.flow_uuid,
                    session_uuid=session.uuid,
                )
                log.info(
                    "webhook %s %s -> %s%s",
                    request.method,
                    request.url,
                    result.status,
                    f" ({result.error})" if result.error else "",
                )
                sprint = engine.resume(session, result, now=self.now())
                continue
            if wait.kind == "time" and self.skip_time_waits and wait.resume_on is not None:
                self._skipped += max(wait.resume_on - self.now(), timedelta(0))
                sprint = engine.resume(session, TimeElapsed(), now=self.now())
                continue
            return

    async def _record(self, sprint: Sprint, outcome: Outcome, consumed: str | None) -> None:
        outgoing = await self.repo.save_sprint(
            sprint.session,
            sprint.events,
            channel=self.channel_for(sprint.session.contact),
            consumed=consumed,
        )
        outcome.events.extend(sprint.events)
        outcome.session = sprint.session
        messages = [e for e in sprint.events if isinstance(e, ev.MsgOut)]
        for event, uuid in zip(messages, outgoing, strict=True):
            if self.send is not None:
                await self.send(sprint.session.contact, event, uuid)
        for event in sprint.events:
            if isinstance(event, ev.ActionSkipped | ev.Warning | ev.Failure):
                metrics.ERRORS.labels(event.type).inc()
                log.warning("session %s: %s", sprint.session.uuid, event.as_json())
