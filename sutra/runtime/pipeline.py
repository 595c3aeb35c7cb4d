"""The inbound pipeline: stored work -> flows -> outbound, one contact at a time, in order.

Channels store what arrives and return at once; this pipeline does the rest in the
background. All of its state is in the database (see :class:`~sutra.store.repository.WorkQueue`):
a notification only says "look at this contact now", and a periodic sweep finds whatever a
notification missed — a message accepted just before a restart, a webhook cut short, a timeout
that fell due, an outbound message to retry. Several processes can run it on one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from sutra.channels.base import Channel, OutboundMessage
from sutra.engine import events as ev
from sutra.engine.session import Contact
from sutra.runtime import metrics
from sutra.runtime.media import MediaStore
from sutra.runtime.runner import Runner
from sutra.store.repository import WorkQueue

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        runner: Runner,
        channels: dict[str, Channel],
        *,
        lease_seconds: float = 10.0,
        sweep_every: float = 1.0,
        send_retries: int = 5,
        media: MediaStore | None = None,
    ) -> None:
        self.runner = runner
        self.queue = WorkQueue(runner.repo)
        self.channels = channels
        self.lease_seconds = lease_seconds
        self.sweep_every = sweep_every
        self.send_retries = send_retries
        self.media = media
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()
        # Flow starts asked for through the API, waiting for their contact's turn.
        self._starts: dict[int, list[str]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        runner.send = self._deliver_now

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sutra-sweeper")

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until no contact is being processed here (tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and loop.time() < deadline:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # --- scheduling --------------------------------------------------------------------------

    def notify(self, contact_id: int) -> None:
        """Look at this contact soon. Cheap, idempotent, never blocks the caller."""
        if contact_id in self._tasks:
            # Work is under way here; make it look once more before it lets go.
            self._again.add(contact_id)
            return
        task = asyncio.create_task(self._process(contact_id), name=f"sutra-contact-{contact_id}")
        self._tasks[contact_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(contact_id, None))

    def start_flow(self, contact_id: int, flow_uuid: str) -> None:
        """Start a flow for a contact in turn with its messages (never beside them)."""
        self._starts.setdefault(contact_id, []).append(flow_uuid)
        self.notify(contact_id)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a database hiccup must not stop the sweeper
                log.exception("sweep failed")
            await asyncio.sleep(self.sweep_every)

    async def sweep(self) -> None:
        for contact_id in await self.queue.contacts_with_work(self.runner.now()):
            self.notify(contact_id)

    # --- the work ----------------------------------------------------------------------------

    async def _process(self, contact_id: int) -> None:
        while True:
            self._again.discard(contact_id)
            if not await self.queue.claim(contact_id, self.owner, self.lease_seconds):
                if not self._starts.get(contact_id):
                    return  # another worker holds this contact; it will find the work
                # A start asked of this process: wait for the other worker to let go.
                await asyncio.sleep(0.2)
                self._again.add(contact_id)
                continue
            heartbeat = asyncio.create_task(self._keep_lease(contact_id))
            try:
                while await self._one_thing(contact_id):
                    pass
            except Exception:
                log.exception("processing contact %s failed", contact_id)
            finally:
                heartbeat.cancel()
                await self.queue.release(contact_id, self.owner)
            if contact_id not in self._again:
                return

    async def _keep_lease(self, contact_id: int) -> None:
        # A short lease, renewed while we work: a long LLM call keeps the contact, and if this
        # process dies another worker takes over within one lease.
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.queue.claim(contact_id, self.owner, self.lease_seconds)
            except Exception:
                log.exception("renewing the lease on contact %s failed", contact_id)

    async def _one_thing(self, contact_id: int) -> bool:
        """Do the next piece of work for the contact; False when there is none."""
        runner = self.runner
        now = runner.now()
        starts = self._starts.get(contact_id)
        if starts:
            flow_uuid = starts.pop(0)
            if not starts:
                self._starts.pop(contact_id, None)
            await runner.start(await runner.repo.contact_by_id(contact_id), flow_uuid)
            return True
        session = await self.queue.session_needing_work(contact_id, now)
        if session is not None:
            if session.wait and session.wait.kind == "webhook":
                await runner.carry_on(session)
            else:
                await runner.fire_timeout(session)
            return True
        inbound = await self.queue.next_inbound(contact_id)
        if inbound is not None:
            uuid, message, channel = inbound
            if self.media is not None and message.attachments:
                local = await self.media.localize(message.attachments, self.channels.get(channel))
                if local is not None:
                    message = message.model_copy(update={"attachments": local})
                    await runner.repo.set_attachments(uuid, local)
            contact = await runner.repo.contact_by_id(contact_id)
            await runner.handle(contact, message)
            return True
        due = await self.queue.due_outbound(contact_id, now)
        if not due:
            return False
        contact = await runner.repo.contact_by_id(contact_id)
        for message in due:
            await self._send(
                contact,
                message.uuid,
                message.channel,
                OutboundMessage(
                    to=_address(contact),
                    text=message.text,
                    quick_replies=list(message.quick_replies or []),
                    attachments=list(message.attachments or []),
                    interactive=(message.payload or {}).get("interactive"),
                ),
                attempts=message.attempts or 0,
            )
        return False

    async def _deliver_now(self, contact: Contact, event: ev.MsgOut, uuid: str) -> None:
        channel = self.runner.channel_for(contact)
        await self._send(
            contact,
            uuid,
            channel,
            OutboundMessage(
                to=_address(contact),
                text=event.text,
                quick_replies=event.quick_replies,
                attachments=event.attachments,
                interactive=event.interactive,
            ),
            attempts=0,
        )

    async def _send(
        self,
        contact: Contact,
        uuid: str,
        channel_name: str,
        message: OutboundMessage,
        *,
        attempts: int,
    ) -> None:
        channel = self.channels.get(channel_name)
        if channel is None:
            await self.runner.repo.mark_message(
                uuid, "failed", error=f"channel {channel_name!r} is not configured"
            )
            return
        result = await channel.send(message)
        metrics.MESSAGES_OUT.labels(channel_name, "sent" if result.ok else "error").inc()
        if result.ok:
            await self.runner.repo.mark_message(uuid, "sent", external_id=result.external_id)
        elif result.retry_after is not None and attempts + 1 < self.send_retries:
            await self.queue.retry_later(uuid, result.retry_after, result.error or "retry")
        else:
            await self.runner.repo.mark_message(uuid, "failed", error=result.error)
        if not result.ok:
            log.warning("sending %s to contact %s: %s", uuid, contact.id, result.error)


def _address(contact: Contact) -> str:
    return (contact.urn or "").partition(":")[2] or contact.phone or ""
