"""The pipeline's units of work: each is one function run inside a group commit (``HotDB``).

A message costs four of them: ``ingest`` (the webhook stores it), ``claim`` (a worker takes the
contact and everything it needs in one go), ``save`` (one transaction per sprint: the consumed
mark, session, runs, results, contact changes, outgoing messages, webhook log and LLM usage),
and ``finish`` (send outcomes recorded, then either the lease let go or the next work handed
back). Everything here is plain SQL on the tables SQLAlchemy defines in ``models.py``.

The units live by what they do: :mod:`.ingest`, :mod:`.claim` (leases, claims, ``finish``,
``fail_unit``), :mod:`.sprint` (``save``), :mod:`.sending` (send outcomes, delivery statuses)
and :mod:`.starts` (flow starts, broadcasts), :mod:`.schedules` (scheduled triggers).
Callers use them as ``work.<name>``.
"""

from sutra.store.hotdb import Tx
from sutra.store.work.claim import (
    Claim,
    LeaseRequest,
    Pending,
    Queued,
    claim,
    claim_many,
    claim_some,
    fail_unit,
    finish,
    release,
    renew,
    take_lease,
    waiting_session,
)
from sutra.store.work.common import WORK_CHANNEL, announce
from sutra.store.work.ingest import Arrival, ingest
from sutra.store.work.schedules import Launched, launch_due_schedules, recurrence_of
from sutra.store.work.sending import (
    Sent,
    StatusNews,
    begin_resend,
    message_status,
    record_sent,
    update_statuses,
)
from sutra.store.work.sprint import SprintWrite, UsageRow, WebhookRow, save
from sutra.store.work.starts import (
    START_BATCH,
    DueBroadcast,
    add_group_starts,
    add_starts,
    broadcast_progress,
    cancel_broadcast,
    end_broadcast,
    new_broadcast,
    renew_broadcast,
    take_due_broadcasts,
)

__all__ = [
    "START_BATCH",
    "WORK_CHANNEL",
    "Arrival",
    "Claim",
    "DueBroadcast",
    "Launched",
    "LeaseRequest",
    "Pending",
    "Queued",
    "Sent",
    "SprintWrite",
    "StatusNews",
    "Tx",
    "UsageRow",
    "WebhookRow",
    "add_group_starts",
    "add_starts",
    "announce",
    "begin_resend",
    "broadcast_progress",
    "cancel_broadcast",
    "claim",
    "claim_many",
    "claim_some",
    "end_broadcast",
    "fail_unit",
    "finish",
    "ingest",
    "launch_due_schedules",
    "message_status",
    "new_broadcast",
    "record_sent",
    "recurrence_of",
    "release",
    "renew",
    "renew_broadcast",
    "save",
    "take_due_broadcasts",
    "take_lease",
    "update_statuses",
    "waiting_session",
]
