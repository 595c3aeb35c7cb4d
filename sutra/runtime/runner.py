"""Drive sessions: inbound message -> engine -> effects (webhooks, messages, storage) -> outbound.

The engine decides; the runner does the I/O it asks for. A webhook the session waits on is
performed here, logged, and its outcome handed back to the engine, until the session waits for
the contact again (or ends).

What a step changed is written in one transaction (:func:`sutra.store.work.save`): the
consumed message, session, runs, results, contact changes, outgoing messages, the webhook log
and LLM usage. A step that waits on a webhook is written (and its messages sent, so a contact
reads "one moment…") before the call: staff see the session waiting for it, and a process
that dies during the call leaves the wait for the next worker to carry on.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sutra.config import get_settings
from sutra.engine import events as ev
from sutra.engine.engine import Engine, Sprint, TimeElapsed, Timeout
from sutra.engine.session import Contact, Environment, Input, Session
from sutra.flows.models import Flow
from sutra.functions.services import Services
from sutra.llm.usage import cost_of
from sutra.runtime import metrics
from sutra.runtime.turns import Turns
from sutra.runtime.webhooks import CallContext, WebhookLog, WebhookSettings, perform
from sutra.store import work
from sutra.store.hotdb import HotDB
from sutra.store.repository import Repository

log = logging.getLogger(__name__)

# Set by whoever runs a unit of work, to learn whether any of it reached the database: a
# unit that stored nothing (no webhook called, no message sent) can be run again safely.
stored_any: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "stored_any", default=None
)


def _stored() -> None:
    flag = stored_any.get()
    if flag is not None:
        flag[0] = True


# The catch-all starts at most this often per contact per window: a person writing ten
# unmatched messages in ten minutes is rare, two bots answering each other is not.
CATCH_ALL_LIMIT = 10
CATCH_ALL_WINDOW = timedelta(minutes=10)

Clock = Callable[[], datetime]
Send = Callable[[Contact, ev.MsgOut, str], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


# Engine steps run here, off the event loop: a step is pure CPU, and one a flow makes costly
# (a template over a huge result, thousands of variables) would otherwise stall every other
# contact, the webhooks and /healthz until it ends. With the GIL the loop still gets its turn
# every few milliseconds. One thread: steps never run at once, as they did on the loop; the
# organisations' steps in turns, so one's burst does not queue ahead of another's message.
_ENGINE_THREAD = Turns("sutra-engine")


async def _off_loop(org: int, step: Callable[..., Sprint], *args: Any, **kwargs: Any) -> Sprint:
    """``step`` on the engine's thread, in turn with the other organisations' steps."""
    context = contextvars.copy_context()
    future = _ENGINE_THREAD.submit(org, context.run, step, *args, **kwargs)
    return await asyncio.wrap_future(future)


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
        db: HotDB,
        *,
        services: Services | None = None,
        channel: str = "cli",
        send: Send | None = None,
        clock: Clock = utcnow,
        webhook_settings: WebhookSettings | None = None,
        timezone: str = "UTC",
        environment: Environment | None = None,
        skip_time_waits: bool = False,
    ) -> None:
        self.repo = repo
        self.db = db
        self.services = services or Services()
        self.channel = channel
        self.send = send
        self.clock = clock
        self.webhook_settings = webhook_settings or WebhookSettings()
        self.timezone = timezone
        # The organisation's formats, country and locations (environment_from_settings); the
        # time zone above and the globals, read each refresh, complete it.
        self.environment = environment or Environment(timezone=timezone)
        # A simulation has no reason to sit through wait_for_time: it moves its clock instead.
        self.skip_time_waits = skip_time_waits
        self.channels_by_scheme: dict[str, str] = {}
        # Send outcomes not yet stored, per contact: they ride along with the contact's next
        # write instead of costing a transaction each.
        self.unrecorded: dict[int, list[work.Sent]] = {}
        self._skipped = timedelta(0)
        self._flows: dict[str, Flow] = {}
        self._engine: Engine | None = None
        self._keywords: dict[str, str] = {}
        self._catch_all: str | None = None
        self._engine_checked = 0.0
        self.refresh_every = 1.0
        self._flows_version: tuple[object, ...] | None = None
        # Bumped by invalidate(): a refresh that began before it must not be kept.
        self._generation = 0
        self._refreshing = asyncio.Lock()

    def for_org(self, organization_id: int, *, timezone: str | None = None) -> Runner:
        """A runner like this one for another organisation: its own flows (cached apart),
        settings and usage; the database, services and the unsent outcomes are shared (contact
        ids are unique across organisations)."""
        other = Runner(
            Repository(self.repo.sessions, organization_id),
            self.db,
            services=self.services,
            channel=self.channel,
            send=self.send,
            clock=self.clock,
            webhook_settings=self.webhook_settings,
            timezone=timezone or self.timezone,
            skip_time_waits=self.skip_time_waits,
        )
        other.unrecorded = self.unrecorded
        other.refresh_every = self.refresh_every
        other.channels_by_scheme = dict(self.channels_by_scheme)
        return other

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
        if self._fresh():
            assert self._engine is not None
            return self._engine
        async with self._refreshing:
            if self._fresh():
                assert self._engine is not None
                return self._engine
            generation = self._generation
            version = await self.repo.flows_version()
            flows = self._flows
            if version != self._flows_version:
                flows = await self.repo.load_flows()
            env = self.environment.model_copy(
                update={
                    "timezone": self.timezone,
                    "globals": await self.repo.globals(),
                    # Its own country, chosen on the settings page, before the environment's.
                    "default_country": await self.repo.default_country()
                    or self.environment.default_country,
                    "organization_id": self.repo.org,
                }
            )
            engine = Engine(flows, env)
            keywords = await self.repo.keywords()
            catch_all = await self.repo.catch_all()
            if generation == self._generation:
                self._flows, self._flows_version = flows, version
                self._engine, self._keywords = engine, keywords
                self._catch_all = catch_all
                self._engine_checked = time.monotonic()
            return engine

    def _fresh(self) -> bool:
        return (
            self._engine is not None
            and time.monotonic() - self._engine_checked <= self.refresh_every
        )

    def invalidate(self) -> None:
        """Forget cached flows and globals (after an import in this process)."""
        self._generation += 1
        self._engine = None
        self._flows_version = None

    # --- entry points ------------------------------------------------------------------------

    async def start(
        self,
        contact: Contact,
        flow_uuid: str,
        *,
        trigger: Input | None = None,
        waiting: Session | bool | None = True,
        start_id: int | None = None,
    ) -> Outcome:
        """Start a flow, interrupting the session that waits (``waiting``: that session when
        the caller has it, None for none, True to look it up)."""
        engine = await self.engine()
        if waiting is True:
            waiting = await self.waiting_session(contact)
        outcome = Outcome(started_flow=flow_uuid)
        writes: list[work.SprintWrite] = []
        if isinstance(waiting, Session):
            interrupted = await _off_loop(self.repo.org, engine.interrupt, waiting, now=self.now())
            await self._step(interrupted, engine, outcome, writes)
        sprint = await _off_loop(
            self.repo.org, engine.start, flow_uuid, contact, now=self.now(), trigger=trigger
        )
        consumed = trigger.uuid if trigger else None
        await self._step(sprint, engine, outcome, writes, consumed=consumed, start_id=start_id)
        await self._flush(writes)
        return outcome

    async def carry_on(self, session: Session) -> Outcome:
        """Finish what a stored session waits on (a webhook cut short by a restart)."""
        engine = await self.engine()
        outcome = Outcome(session=session)
        writes: list[work.SprintWrite] = []
        await self._step(Sprint(session), engine, outcome, writes)
        await self._flush(writes)
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
        arrival = work.Arrival(
            organization_id=self.repo.org,
            urn=contact.urn or f"{self.channel}:{contact.uuid}",
            channel=self.channel,
            message=message,
            name=contact.name,
            external_id=external_id,
            payload=payload,
        )
        [(_, stored)] = await self.db.run(work.ingest, [arrival])
        if not stored:
            return None
        contact.channel = self.channel
        return await self.handle(contact, message)

    async def handle(
        self,
        contact: Contact,
        message: Input,
        *,
        waiting: Session | bool | None = True,
        paused: bool = False,
    ) -> Outcome:
        """A keyword starts its flow; otherwise the contact's waiting session gets the message;
        with neither, the organisation's catch-all flow starts (if set, and the contact is
        opted in). ``paused``: staff took the chat over, so no flow gets it (nor starts)."""
        outcome = await self._handle(contact, message, waiting, paused)
        metrics.MESSAGES_HANDLED.inc()
        return outcome

    async def _handle(
        self, contact: Contact, message: Input, waiting: Session | bool | None, paused: bool
    ) -> Outcome:
        if paused:
            # Stored for staff to read, done with: handing back does not replay it, and the
            # waiting session stays as it was, for the contact's first message after.
            await self.db.run(_mark_handled, message.uuid, self._take_unrecorded(contact))
            _stored()
            return Outcome(session=waiting if isinstance(waiting, Session) else None)
        engine = await self.engine()
        if waiting is True:
            waiting = await self.waiting_session(contact)
        keyword_flow = self._keywords.get(message.text.strip().lower())
        if keyword_flow is not None:
            return await self.start(contact, keyword_flow, trigger=message, waiting=waiting)
        session = waiting if isinstance(waiting, Session) else None
        if session is None and self._catch_all is not None and contact.id is not None:
            flow = self._catch_all
            if await self.db.run(_catch_all_allowed, contact.id, flow):
                return await self.start(contact, flow, trigger=message, waiting=None)
        outcome = Outcome(session=session)
        if session is not None:
            # Reply the way this message came, even if the session began on another channel.
            session.contact.channel = contact.channel
        if session is None or session.wait is None or session.wait.kind != "msg":
            # No flow is listening: the message stays stored, for staff to read.
            await self.db.run(_mark_handled, message.uuid, self._take_unrecorded(contact))
            _stored()
            return outcome
        writes: list[work.SprintWrite] = []
        sprint = await _off_loop(self.repo.org, engine.resume, session, message, now=self.now())
        await self._step(sprint, engine, outcome, writes, consumed=message.uuid)
        await self._flush(writes)
        return outcome

    async def fire_timeout(self, session: Session) -> Outcome:
        """A wait's timeout or a timed pause is due: carry the session on."""
        engine = await self.engine()
        outcome = Outcome(session=session)
        wait = session.wait
        if wait is None:
            return outcome
        resume = TimeElapsed() if wait.kind == "time" else Timeout()
        writes: list[work.SprintWrite] = []
        resumed = await _off_loop(self.repo.org, engine.resume, session, resume, now=self.now())
        await self._step(resumed, engine, outcome, writes)
        await self._flush(writes)
        return outcome

    async def waiting_session(self, contact: Contact) -> Session | None:
        if contact.id is None:
            return None
        return await self.db.run(work.waiting_session, contact.id)

    async def settle(self, contact: Contact) -> None:
        """Store the send outcomes still held for the contact (a CLI chat between turns)."""
        outcomes = self._take_unrecorded(contact)
        if outcomes:
            await self.db.run(work.record_sent, outcomes)

    # --- the loop ----------------------------------------------------------------------------

    async def _step(
        self,
        sprint: Sprint,
        engine: Engine,
        outcome: Outcome,
        writes: list[work.SprintWrite],
        *,
        consumed: str | None = None,
        start_id: int | None = None,
    ) -> None:
        # What set the step off is marked done in the step's first write.
        self._note(sprint, outcome, writes)
        writes[-1].consumed = consumed or writes[-1].consumed
        writes[-1].start_id = start_id or writes[-1].start_id
        while True:
            session = sprint.session
            wait = session.wait
            if session.status != "waiting" or wait is None:
                return
            if wait.kind == "webhook" and wait.request is not None:
                await self._flush(writes)
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
                log.info(
                    "webhook %s %s -> %s%s",
                    request.method,
                    request.url,
                    result.status,
                    f" ({result.error})" if result.error else "",
                )
                sprint = await _off_loop(
                    self.repo.org, engine.resume, session, result, now=self.now()
                )
                self._note(sprint, outcome, writes)
                writes[-1].webhooks.append(_webhook_row(call_log, request.flow_uuid))
                writes[-1].usage.extend(_usage_rows(call_log, request.flow_uuid))
                continue
            if wait.kind == "time" and self.skip_time_waits and wait.resume_on is not None:
                self._skipped += max(wait.resume_on - self.now(), timedelta(0))
                sprint = await _off_loop(
                    self.repo.org, engine.resume, session, TimeElapsed(), now=self.now()
                )
                self._note(sprint, outcome, writes)
                continue
            return

    def _note(self, sprint: Sprint, outcome: Outcome, writes: list[work.SprintWrite]) -> None:
        """Keep what a sprint did for the next write; sprints of one session become one."""
        last = writes[-1] if writes else None
        if last is not None and last.session.uuid == sprint.session.uuid:
            last.session = sprint.session
            last.events.extend(sprint.events)
        else:
            channel = self.channel_for(sprint.session.contact)
            writes.append(work.SprintWrite(sprint.session, list(sprint.events), channel))
        outcome.events.extend(sprint.events)
        outcome.session = sprint.session
        for event in sprint.events:
            if isinstance(event, ev.ActionSkipped | ev.Error | ev.Warning | ev.Failure):
                metrics.ERRORS.labels(event.type).inc()
                log.warning("session %s: %s", sprint.session.uuid, event.as_json())

    async def _flush(self, writes: list[work.SprintWrite]) -> None:
        """One transaction for what the sprints so far changed; then send their messages."""
        if not writes:
            return
        contact = writes[0].session.contact
        outgoing = await self.db.run(
            _save,
            self.repo.org,
            list(writes),
            self._take_unrecorded(contact),
            self.send is not None,
        )
        _stored()
        done = list(writes)
        writes.clear()
        if self.send is None:
            return
        for write, uuids in zip(done, outgoing, strict=True):
            messages = [e for e in write.events if isinstance(e, ev.MsgOut)]
            for event, uuid in zip(messages, uuids, strict=True):
                await self.send(write.session.contact, event, uuid)

    def _take_unrecorded(self, contact: Contact) -> list[work.Sent]:
        return self.unrecorded.pop(contact.id, []) if contact.id is not None else []


def _save(
    tx: work.Tx, org: int, writes: list[work.SprintWrite], sent: list[work.Sent], sending: bool
) -> list[list[str]]:
    work.record_sent(tx, sent)
    return work.save(tx, org, writes, sending=sending)


def _catch_all_allowed(tx: work.Tx, contact_id: int, flow_uuid: str) -> bool:
    """The catch-all may start for the contact: opted in, and not started for them
    :data:`CATCH_ALL_LIMIT` times within the window (another bot answering ours would
    otherwise make them talk for ever)."""
    row = tx.one(
        "SELECT status, (SELECT COUNT(*) FROM runs r WHERE r.contact_id = c.id "
        "AND r.flow_uuid = :flow AND r.created_at >= :since) FROM contacts c WHERE c.id = :id",
        # Runs are stamped with the wall clock (not a simulation's), so the window is too.
        {"id": contact_id, "flow": flow_uuid, "since": tx.ts(utcnow() - CATCH_ALL_WINDOW)},
    )
    if row is None or row[0] != "active":
        return False
    if int(row[1]) >= CATCH_ALL_LIMIT:
        log.warning(
            "contact %s: catch-all flow %s started %s times in %s; message left for staff",
            contact_id,
            flow_uuid,
            row[1],
            CATCH_ALL_WINDOW,
        )
        return False
    return True


def _mark_handled(tx: work.Tx, uuid: str, sent: list[work.Sent]) -> None:
    work.record_sent(tx, sent)
    tx.execute("UPDATE messages SET status = 'handled' WHERE uuid = :uuid", {"uuid": uuid})


def _webhook_row(call: WebhookLog, flow_uuid: str) -> work.WebhookRow:
    response = (
        call.response
        if isinstance(call.response, dict) or call.response is None
        else {"body": call.response}
    )
    first = call.usage[0] if call.usage else None
    return work.WebhookRow(
        method=call.method,
        url=call.url,
        request=call.request,
        response=response,
        status_code=call.status_code,
        error=call.error,
        duration_ms=call.duration_ms,
        result_name=call.result_name,
        flow_uuid=flow_uuid,
        llm_provider=first.provider if first else None,
        llm_model=first.model if first else None,
        prompt_tokens=sum(u.prompt_tokens for u in call.usage) if first else None,
        completion_tokens=sum(u.completion_tokens for u in call.usage) if first else None,
    )


def _usage_rows(call: WebhookLog, flow_uuid: str) -> list[work.UsageRow]:
    prices = get_settings().llm_prices
    function = call.url if call.method == "FUNCTION" else None
    return [
        work.UsageRow(
            function=function,
            provider=u.provider,
            model=u.model,
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            latency_ms=u.latency_ms,
            cost=cost_of(u, prices),
            flow_uuid=flow_uuid,
            audio_seconds=u.audio_seconds,
        )
        for u in call.usage
    ]
