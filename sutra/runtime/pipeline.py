"""The inbound pipeline: stored work -> flows -> outbound, one contact at a time, in order.

Channels store what arrives and return at once; this pipeline does the rest in the
background. All of its state is in the database (see :mod:`sutra.store.work`): a notification
only says "look at this contact now", and a periodic sweep claims whatever a notification
missed — a message accepted just before a restart, a webhook cut short, a timeout that fell
due, an outbound message to retry, a flow start. Several processes can run it on one database.

Contacts of every organisation share the pipeline; each claim names its organisation, whose
runner (flows, keys, billing) and channels (numbers, access tokens) do its work, and whose
own pacer spaces its sends, so one organisation's backlog never takes another's sending rate.

A process works at most ``max_in_flight`` contacts at once; the rest wait their turn in
arrival order, so a burst is worked through at full speed instead of all of it at once. All
of the process's leases are renewed by one statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sutra.channels.base import Channel, OutboundMessage, SendResult
from sutra.engine import events as ev
from sutra.engine.session import Contact, Session
from sutra.orgs.channels import whatsapp_scheme
from sutra.runtime import metrics
from sutra.runtime.admission import Admission
from sutra.runtime.media import MediaStore
from sutra.runtime.pacing import Pacer
from sutra.runtime.runner import Outcome, Runner, Send, stored_any
from sutra.runtime.working import Working, away
from sutra.store import work

if TYPE_CHECKING:
    from sutra.orgs.directory import Directory

log = logging.getLogger(__name__)

# A send cut off by its whole-call timeout may have reached the provider: like any network
# failure it is tried again, this much later.
RETRY_SECONDS = 5.0

# Whether the messages being sent answer a contact (first in line) or start a flow (bulk).
_replying: contextvars.ContextVar[bool] = contextvars.ContextVar("replying", default=True)


class Pipeline:
    def __init__(
        self,
        runner: Runner,
        channels: dict[str, Channel],
        *,
        lease_seconds: float = 10.0,
        sweep_every: float = 1.0,
        send_retries: int = 5,
        unit_attempts: int = 3,
        max_in_flight: int = 256,
        org_in_flight: int = 8,
        working_turns: int = 16,
        doubt_seconds: float = 30.0,
        send_timeout: float = 60.0,
        pacers: dict[str, Pacer] | None = None,
        media: MediaStore | None = None,
        directory: Directory | None = None,
        messages_per_second: float | None = None,
    ) -> None:
        self.runner = runner
        self.db = runner.db
        self.channels = channels
        self.lease_seconds = lease_seconds
        self.sweep_every = sweep_every
        self.send_retries = send_retries
        self.unit_attempts = unit_attempts
        self.max_in_flight = max_in_flight
        self.admission = Admission(max_in_flight=max_in_flight, org_in_flight=org_in_flight)
        self.working = Working(turns=working_turns)
        self.doubt_seconds = doubt_seconds
        # However slowly a provider drips its answer (the HTTP client's timeouts are per read,
        # so a byte every few seconds would hold the contact for ever).
        self.send_timeout = send_timeout
        self.pacers = pacers or {}
        self.media = media
        # Without a directory (tests, the CLI) every organisation uses ``channels``.
        self.directory = directory
        self.messages_per_second = messages_per_second
        self._org_pacers: dict[tuple[int, str], Pacer] = {}
        self._runners: dict[int, Runner] = {runner.repo.org: runner}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        self._background: list[asyncio.Task[None]] = []
        # Per contact worked on here, its first send still to go out (our uuid, and when it
        # is due: the provider asked us to wait, or the network failed). Until it has gone,
        # the contact's later sends queue behind it, so the contact reads them in order.
        self._held: dict[int, tuple[str, datetime]] = {}
        self._wake = asyncio.Event()
        self._started_at = runner.now()
        runner.send = self._sender(runner.repo.org)

    # --- organisations -----------------------------------------------------------------------

    def runner_for(self, organization_id: int) -> Runner:
        """The runner of this organisation's contacts (its flows, settings and keys)."""
        found = self._runners.get(organization_id)
        if found is None:
            found = self.runner.for_org(organization_id)
            found.send = self._sender(organization_id)
            self._runners[organization_id] = found
        return found

    async def channels_for(self, organization_id: int) -> dict[str, Channel]:
        if self.directory is None:
            return self.channels
        return await self.directory.channels(organization_id)

    def _pacer(self, organization_id: int, channel_name: str) -> Pacer | None:
        if organization_id == self.runner.repo.org or self.messages_per_second is None:
            return self.pacers.get(channel_name)
        key = (organization_id, channel_name)
        pacer = self._org_pacers.get(key)
        if pacer is None and channel_name in self.pacers:
            # Each number has its own messaging limit, so each organisation its own pacer.
            pacer = self._org_pacers[key] = Pacer(self.messages_per_second)
            pacer.start()
        return pacer

    def _sender(self, organization_id: int) -> Send:
        async def send(contact: Contact, event: ev.MsgOut, uuid: str) -> None:
            await self._deliver_now(organization_id, contact, event, uuid)

        return send

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._started_at = self.runner.now()
        loop = asyncio.get_running_loop()
        # On PostgreSQL another process's new work wakes this one's sweeper at once, instead
        # of at its next round.
        try:
            await asyncio.to_thread(
                self.db.listen,
                work.WORK_CHANNEL,
                lambda: loop.call_soon_threadsafe(self._wake.set),
            )
        except Exception:  # the periodic sweep still finds the work, a second later
            log.exception("cannot listen for new work")
        self._background = [
            asyncio.create_task(self._sweep_forever(), name="sutra-sweeper"),
            asyncio.create_task(self._renew_forever(), name="sutra-leases"),
            asyncio.create_task(self._pace_forever(), name="sutra-loop-pace"),
        ]
        for pacer in self.pacers.values():
            pacer.start()

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        tasks = [*self._background, *self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pacer in [*self.pacers.values(), *self._org_pacers.values()]:
            await pacer.stop()

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until no contact is being processed here (tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._tasks or self.admission.waiting) and loop.time() < deadline:
            await asyncio.sleep(0.01)

    # --- scheduling --------------------------------------------------------------------------

    def notify(self, contact_id: int, organization_id: int | None = None) -> None:
        """Look at this contact soon. Cheap, idempotent, never blocks the caller."""
        if contact_id in self._tasks:
            # Work is under way here; make it look once more before it lets go.
            self._again.add(contact_id)
            return
        self.admission.queue(contact_id, organization_id)
        self._admit()

    def lease_request(self, organization_id: int | None = None) -> work.LeaseRequest:
        """What this process may claim right now (for a unit of work that claims as it goes),
        for ``organization_id``'s contacts (see :mod:`sutra.runtime.admission`)."""
        return work.LeaseRequest(
            owner=self.owner,
            until=self._until(),
            now=self.runner.now(),
            room=self.admission.room(organization_id),
            busy=frozenset(self._tasks),
        )

    def adopt(self, claim: work.Claim) -> None:
        """Work a contact claimed elsewhere in this process (by the webhook that stored its
        message), as if the pipeline had claimed it."""
        contact_id = claim.contact.id
        assert contact_id is not None
        if contact_id in self._tasks:  # claimed twice over: the running worker sees it all
            self._again.add(contact_id)
            return
        self.admission.started(contact_id, claim.organization_id)
        self._start(contact_id, claim)

    def _admit(self) -> None:
        for contact_id, _ in self.admission.take():
            self._start(contact_id, None)

    def _start(self, contact_id: int, claim: work.Claim | None) -> None:
        task = asyncio.create_task(
            self._process(contact_id, claim), name=f"sutra-contact-{contact_id}"
        )
        self._tasks[contact_id] = task
        task.add_done_callback(lambda _, c=contact_id: self._done(c))

    def _done(self, contact_id: int) -> None:
        self._tasks.pop(contact_id, None)
        self.admission.finished(contact_id)
        # The next claim reads it again from the database, where another process may have
        # sent it meanwhile.
        self._held.pop(contact_id, None)
        if contact_id in self._again:
            self._again.discard(contact_id)
            self.notify(contact_id)
        self._admit()

    def _until(self) -> datetime:
        return self.runner.now() + timedelta(seconds=self.lease_seconds)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a database hiccup must not stop the sweeper
                log.exception("sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.sweep_every)
            self._wake.clear()

    async def sweep(self) -> None:
        """Claim a batch of contacts with work (as many as there is room for) and work them."""
        room = self.admission.room()
        if room <= 0:
            return
        now = self.runner.now()
        taken = await self.db.run(work.claim_many, self.owner, self._until(), now, room)
        for contact_id, organization_id in taken:
            self.notify(contact_id, organization_id)

    async def _pace_forever(self, every: float = 0.05) -> None:
        # How late the loop wakes a sleeper is how long every contact's next step waits.
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(every)
            lag = loop.time() - before - every
            self.admission.adapt(lag)
            self._admit()
            metrics.LOOP_LAG.observe(lag)
            metrics.ORG_LIMIT.set(self.admission.org_limit)
            metrics.IN_FLIGHT.set(self.admission.running)
            metrics.WAITING.set(self.admission.waiting)

    async def _renew_forever(self) -> None:
        # A short lease, renewed while we work: a long LLM call keeps the contact, and if this
        # process dies another worker takes over within one lease.
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.db.run(work.renew, self.owner, self._until())
            except Exception:
                log.exception("renewing leases failed")

    # --- the work ----------------------------------------------------------------------------

    async def _process(self, contact_id: int, claim: work.Claim | None) -> None:
        runner = self.runner
        try:
            if claim is None:
                claim = await self.db.run(
                    work.claim, contact_id, self.owner, self._until(), runner.now()
                )
            if claim is not None:
                self.admission.known(contact_id, claim.organization_id)
                async with self.working.turn(claim.organization_id):
                    while claim is not None:
                        await self._work(claim)
                        claim = await self.db.run(
                            work.finish,
                            contact_id,
                            self.owner,
                            runner.unrecorded.pop(contact_id, []),
                            self._until(),
                            runner.now(),
                        )
        except Exception:
            log.exception("processing contact %s failed", contact_id)
            # Let go, keeping what was sent: the sweeper retries the rest, and other contacts
            # go on meanwhile.
            try:
                await self.db.run(
                    _release, contact_id, self.owner, runner.unrecorded.pop(contact_id, [])
                )
            except Exception:
                log.exception("releasing contact %s failed; its lease runs out", contact_id)

    async def _work(self, claim: work.Claim) -> None:
        """Everything the claim holds, in order: sends left over (older than anything else
        here), flow starts, a due wait, then the messages that came in."""
        org = claim.organization_id
        runner = self.runner_for(org)
        if self.directory is not None and org != self.runner.repo.org:
            info = await self.directory.org(org)
            if info is not None:
                runner.timezone = info.timezone
        channels = await self.channels_for(org)
        runner.channels_by_scheme = {"whatsapp": whatsapp_scheme(channels), "sim": "sim"}
        contact, session = claim.contact, claim.session
        assert contact.id is not None
        if claim.first_unsent is not None:
            self._held[contact.id] = claim.first_unsent
        else:
            self._held.pop(contact.id, None)
        for queued in claim.outbound:
            await self._send_again(org, contact, queued)
        token = _replying.set(False)
        try:
            for start_id, flow_uuid in claim.starts:
                started = runner.start(contact, flow_uuid, waiting=session, start_id=start_id)
                session = await self._unit(contact, started, start_id=start_id)
        finally:
            _replying.reset(token)
        if session is not None and claim.session is session and claim.session_due(runner.now()):
            assert session.wait is not None
            due = runner.carry_on if session.wait.kind == "webhook" else runner.fire_timeout
            session = await self._unit(contact, due(session))
        for pending in claim.inbound:
            message = pending.message
            if self.media is not None and message.attachments:
                local = await self.media.localize(
                    message.attachments, channels.get(pending.channel)
                )
                if local is not None:
                    message = message.model_copy(update={"attachments": local})
                    await self.db.run(_set_attachments, pending.uuid, local)
            contact.channel = pending.channel
            handled = runner.handle(contact, message, waiting=session, paused=claim.taken_over)
            try:
                session = await self._unit(
                    contact, handled, message_uuid=pending.uuid, attempts=pending.attempts
                )
            except _TryLater:
                break  # the contact's later messages wait behind it

    async def _send_again(self, org: int, contact: Contact, queued: work.Queued) -> None:
        """A send that is due again (after a rate limit), or one a dead worker began: that
        one may have reached the provider, so first give its "sent" status (which names our
        id) the time to come in; the contact's later work waits, to stay in order."""
        if queued.in_doubt_since is not None:
            loop = asyncio.get_running_loop()
            # From this process's start too: a status the provider sent while no process was
            # up comes in only once one is (Meta retries its webhooks for days).
            since = max(queued.in_doubt_since, self._started_at)
            wait = since + timedelta(seconds=self.doubt_seconds)
            deadline = loop.time() + (wait - self.runner.now()).total_seconds()
            while loop.time() < deadline:
                async with away():
                    await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))
                if await self.db.run(work.message_status, queued.uuid) != "sending":
                    self._sent(contact, queued.uuid)
                    return
        assert contact.id is not None
        behind = self._behind(contact, queued.uuid)
        if behind is not None:
            # Not an attempt: it has not been tried, so it does not count towards giving up.
            self.runner.unrecorded.setdefault(contact.id, []).append(
                work.Sent(
                    queued.uuid, "retry", error="waits for an earlier message", retry_at=behind
                )
            )
            return
        attempts = await self.db.run(work.begin_resend, queued.uuid)
        if attempts is None:
            self._sent(contact, queued.uuid)
            return  # settled meanwhile
        if attempts >= self.send_retries:
            self._sent(contact, queued.uuid)
            error = f"given up after {attempts} attempts without an answer from the provider"
            self.runner.unrecorded.setdefault(contact.id, []).append(
                work.Sent(queued.uuid, "failed", error=error)
            )
            return
        await self._send(
            org,
            contact,
            queued.uuid,
            queued.channel,
            OutboundMessage(
                to=_address(contact),
                text=queued.text,
                quick_replies=queued.quick_replies,
                attachments=queued.attachments,
                interactive=queued.interactive,
                template=queued.template,
                reference=queued.uuid,
            ),
            attempts=attempts,
        )

    async def _unit(
        self,
        contact: Contact,
        do: Awaitable[Outcome],
        *,
        message_uuid: str | None = None,
        start_id: int | None = None,
        attempts: int = 0,
    ) -> Session | None:
        """One unit of work (a message, a start, a due wait); returns the session that waits
        after it. Whatever goes wrong inside ends in a state staff can see. A message whose
        handling failed before any of it was stored is tried again, after 1 s, then 4 s; after
        ``unit_attempts`` tries, or when something was stored already (a webhook called, a
        message sent: running it again would repeat them), it is a dead letter — marked failed
        with the reason, the contact's waiting session failed, its next message handled
        afresh — which staff see and can replay (``/api/v1/failures``).
        """
        stored = [False]
        token = stored_any.set(stored)
        try:
            return _waiting(await do)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:1000]
            log.exception("contact %s: a unit of work failed: %s", contact.id, reason)
            metrics.ERRORS.labels("unit_failed").inc()
            assert contact.id is not None
            again = message_uuid is not None and not stored[0]
            again = again and attempts + 1 < self.unit_attempts
            retry_at = self.runner.now() + timedelta(seconds=4**attempts) if again else None
            await self.db.run(
                work.fail_unit,
                contact.id,
                reason,
                message_uuid,
                start_id,
                self.runner.unrecorded.pop(contact.id, []),
                retry_at,
            )
            if again:
                raise _TryLater from exc
            return None
        finally:
            stored_any.reset(token)

    async def _deliver_now(self, org: int, contact: Contact, event: ev.MsgOut, uuid: str) -> None:
        channel = self.runner_for(org).channel_for(contact)
        await self._send(
            org,
            contact,
            uuid,
            channel,
            OutboundMessage(
                to=_address(contact),
                text=event.text,
                quick_replies=event.quick_replies,
                attachments=event.attachments,
                interactive=event.interactive,
                reference=uuid,
            ),
            attempts=0,
        )

    async def _send(
        self,
        org: int,
        contact: Contact,
        uuid: str,
        channel_name: str,
        message: OutboundMessage,
        *,
        attempts: int,
    ) -> None:
        assert contact.id is not None
        outcomes = self.runner.unrecorded.setdefault(contact.id, [])
        channel = (await self.channels_for(org)).get(channel_name)
        if channel is None:
            error = f"channel {channel_name!r} is not configured"
            outcomes.append(work.Sent(uuid, "failed", error=error))
            return
        behind = self._behind(contact, uuid)
        if behind is not None:
            error = "waits for an earlier message"
            outcomes.append(work.Sent(uuid, "retry", error=error, retry_at=behind))
            return
        pacer = self._pacer(org, channel_name)
        if pacer is not None:
            async with away():
                await pacer.wait(urgent=_replying.get())
        try:
            async with asyncio.timeout(self.send_timeout):
                result = await channel.send(message)
        except TimeoutError:
            error = f"no answer from {channel_name} within {self.send_timeout:g} s"
            result = SendResult(error=error, retry_after=RETRY_SECONDS)
        metrics.MESSAGES_OUT.labels(channel_name, "sent" if result.ok else "error").inc()
        if result.ok:
            self._sent(contact, uuid)
            outcomes.append(work.Sent(uuid, "sent", external_id=result.external_id))
        elif result.retry_after is not None and attempts + 1 < self.send_retries:
            if pacer is not None:
                pacer.pause(result.retry_after)
            retry_at = self.runner.now() + timedelta(seconds=result.retry_after)
            self._held[contact.id] = (uuid, retry_at)
            outcomes.append(
                work.Sent(uuid, "retry", error=result.error or "retry", retry_at=retry_at)
            )
        else:
            self._sent(contact, uuid)
            outcomes.append(work.Sent(uuid, "failed", error=result.error))
        if not result.ok:
            log.warning("sending %s to contact %s: %s", uuid, contact.id, result.error)

    def _behind(self, contact: Contact, uuid: str) -> datetime | None:
        """When the send ``uuid`` may go, if an earlier send of the contact must go first."""
        assert contact.id is not None
        held = self._held.get(contact.id)
        if held is None or held[0] == uuid:
            return None
        return max(held[1], self.runner.now())

    def _sent(self, contact: Contact, uuid: str) -> None:
        """``uuid`` needs no more sending (sent, given up, settled): later sends may go."""
        assert contact.id is not None
        held = self._held.get(contact.id)
        if held is not None and held[0] == uuid:
            del self._held[contact.id]

    # --- for the simulator: a start under the contact's lease ----------------------------------

    async def hold(self, contact_id: int, owner: str) -> bool:
        """Take the contact's lease for ``owner`` (another part of this process)."""
        row = await self.db.run(
            work.take_lease, contact_id, owner, self._until(), self.runner.now()
        )
        return row is not None

    async def let_go(self, contact_id: int, owner: str) -> None:
        await self.db.run(_release, contact_id, owner, self.runner.unrecorded.pop(contact_id, []))


class _TryLater(Exception):
    """The message is tried again later (see ``Pipeline._unit``)."""


def _waiting(outcome: Outcome) -> Session | None:
    session = outcome.session
    return session if session is not None and session.status == "waiting" else None


def _release(tx: work.Tx, contact_id: int, owner: str, sent: list[work.Sent]) -> None:
    work.record_sent(tx, sent)
    work.release(tx, contact_id, owner)


def _set_attachments(tx: work.Tx, uuid: str, attachments: list[str]) -> None:
    tx.execute(
        "UPDATE messages SET attachments = :a WHERE uuid = :uuid",
        {"a": tx.json(attachments), "uuid": uuid},
    )


def _address(contact: Contact) -> str:
    return (contact.urn or "").partition(":")[2] or contact.phone or ""
