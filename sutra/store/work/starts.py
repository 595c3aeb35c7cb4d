"""Flow starts and broadcasts: durable starts, a group's in batches, a set time, and progress.

A broadcast is a row first (``scheduled`` for a set time, else ``starting``), then its starts,
written in batches of :data:`START_BATCH` under a lease on the broadcast. Writing them is
idempotent (a contact gets one start per broadcast), so a process that dies halfway leaves a
broadcast another process finishes once the lease runs out; a scheduled one is taken when its
time comes by whichever process looks first. Nothing of it lives only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sutra.store.hotdb import Tx
from sutra.store.work.common import announce, now_utc

# Contacts per transaction when a flow is started for a whole group: replies keep flowing
# between the batches of a 100,000-contact broadcast.
START_BATCH = 5000


def new_broadcast(
    tx: Tx,
    organization_id: int,
    flow_uuid: str,
    *,
    target: dict[str, Any] | None = None,
    send_at: datetime | None = None,
    created_by: str | None = None,
    lease_until: datetime | None = None,
) -> int:
    """A broadcast: ``scheduled`` with ``send_at``, else ``starting`` under the caller's lease
    (``lease_until``), whose starts it is about to write."""
    row = tx.one(
        "INSERT INTO broadcasts (organization_id, flow_uuid, total, status, target, send_at, "
        "lease_until, created_by, created_at) VALUES (:org, :flow, 0, :status, :target, "
        ":send_at, :lease, :by, :now) RETURNING id",
        {
            "org": organization_id,
            "flow": flow_uuid,
            "status": "scheduled" if send_at is not None else "starting",
            "target": tx.json(target) if target is not None else None,
            "send_at": tx.ts(send_at),
            "lease": tx.ts(lease_until),
            "by": created_by,
            "now": tx.ts(now_utc()),
        },
    )
    assert row is not None
    return int(row[0])


_NOT_STARTED_YET = (
    "NOT EXISTS (SELECT 1 FROM flow_starts s WHERE s.broadcast_id = :broadcast "
    "AND s.contact_id = {contact})"
)


def add_starts(
    tx: Tx, organization_id: int, flow_uuid: str, contact_ids: list[int], broadcast_id: int
) -> list[int]:
    """Start the flow for these contacts (those of the organisation not started by this
    broadcast yet); returns their ids."""
    now = tx.ts(now_utc())
    added = []
    for contact_id in contact_ids:
        row = tx.one(
            "INSERT INTO flow_starts (organization_id, contact_id, flow_uuid, broadcast_id, "
            "status, created_at) SELECT :org, id, :flow, :broadcast, 'pending', :now "
            "FROM contacts WHERE id = :contact AND organization_id = :org AND "
            f"{_NOT_STARTED_YET.format(contact='contacts.id')} RETURNING contact_id",
            {
                "org": organization_id,
                "contact": contact_id,
                "flow": flow_uuid,
                "broadcast": broadcast_id,
                "now": now,
            },
        )
        if row is not None:
            added.append(int(row[0]))
    _count(tx, broadcast_id, len(added))
    announce(tx)
    return added


def add_group_starts(
    tx: Tx, organization_id: int, flow_uuid: str, group_id: int, broadcast_id: int, after: int
) -> tuple[int, int]:
    """Start the flow for the next :data:`START_BATCH` members of the group with ids above
    ``after`` (and not started by this broadcast already); returns (how many, the last id)."""
    now = tx.ts(now_utc())
    rows = tx.execute(
        "INSERT INTO flow_starts (organization_id, contact_id, flow_uuid, broadcast_id, status, "
        "created_at) SELECT :org, cg.contact_id, :flow, :broadcast, 'pending', :now "
        "FROM contact_groups cg WHERE cg.group_id = :group AND cg.contact_id > :after "
        f"AND {_NOT_STARTED_YET.format(contact='cg.contact_id')} ORDER BY cg.contact_id "
        "LIMIT :limit RETURNING contact_id",
        {
            "org": organization_id,
            "flow": flow_uuid,
            "broadcast": broadcast_id,
            "group": group_id,
            "after": after,
            "now": now,
            "limit": START_BATCH,
        },
    )
    _count(tx, broadcast_id, len(rows))
    announce(tx)
    return len(rows), max((int(r[0]) for r in rows), default=after)


def _count(tx: Tx, broadcast_id: int, added: int) -> None:
    tx.execute(
        "UPDATE broadcasts SET total = total + :n WHERE id = :id", {"n": added, "id": broadcast_id}
    )


# --- the broadcast's lifecycle -------------------------------------------------------------


@dataclass(frozen=True)
class DueBroadcast:
    id: int
    organization_id: int
    flow_uuid: str
    target: dict[str, Any]


def take_due_broadcasts(tx: Tx, now: datetime, until: datetime, limit: int) -> list[DueBroadcast]:
    """Lease the broadcasts whose starts are to be written now: scheduled ones whose time has
    come, and ones whose writer died halfway (lease run out)."""
    skip = " FOR UPDATE SKIP LOCKED" if tx.postgres else ""
    rows = tx.execute(
        "UPDATE broadcasts SET status = 'starting', lease_until = :until WHERE id IN ("
        "SELECT id FROM broadcasts WHERE (status = 'scheduled' AND send_at <= :now) OR "
        "(status = 'starting' AND (lease_until IS NULL OR lease_until < :now)) "
        f"ORDER BY id LIMIT :limit{skip}) RETURNING id, organization_id, flow_uuid, target",
        {"now": tx.ts(now), "until": tx.ts(until), "limit": limit},
    )
    return [
        DueBroadcast(int(i), int(org), str(flow), tx.read_json(target) or {})
        for i, org, flow, target in rows
    ]


def renew_broadcast(tx: Tx, broadcast_id: int, until: datetime) -> None:
    tx.execute(
        "UPDATE broadcasts SET lease_until = :until WHERE id = :id AND status = 'starting'",
        {"until": tx.ts(until), "id": broadcast_id},
    )


def end_broadcast(tx: Tx, broadcast_id: int, error: str | None = None) -> None:
    """Every start is written (``started``), or none can be (``failed`` with the reason)."""
    tx.execute(
        "UPDATE broadcasts SET status = :status, error = :error, started_at = :now, "
        "lease_until = NULL WHERE id = :id AND status = 'starting'",
        {
            "status": "failed" if error else "started",
            "error": error,
            "now": tx.ts(now_utc()),
            "id": broadcast_id,
        },
    )


def cancel_broadcast(tx: Tx, organization_id: int, broadcast_id: int) -> bool:
    """Cancel a broadcast that has not begun; False when it has (or is not this org's)."""
    row = tx.one(
        "UPDATE broadcasts SET status = 'cancelled' WHERE id = :id AND organization_id = :org "
        "AND status = 'scheduled' RETURNING id",
        {"id": broadcast_id, "org": organization_id},
    )
    return row is not None


# --- progress ------------------------------------------------------------------------------

# Per contact, how far the messages of the session its start opened got: read beats
# delivered beats sent. A contact "replied" when it wrote in after the first of them.
_PER_CONTACT = (
    "SELECT s.contact_id, MAX(CASE m.status WHEN 'read' THEN 3 WHEN 'delivered' THEN 2 "
    "WHEN 'sent' THEN 1 ELSE 0 END) AS best, "
    "MAX(CASE WHEN m.status = 'failed' THEN 1 ELSE 0 END) AS failed, MIN(m.id) AS first_id "
    "FROM flow_starts s JOIN messages m ON m.session_uuid = s.session_uuid "
    "AND m.direction = 'out' WHERE s.broadcast_id = :id GROUP BY s.contact_id"
)


def broadcast_progress(tx: Tx, organization_id: int, broadcast_id: int) -> dict[str, Any] | None:
    row = tx.one(
        "SELECT flow_uuid, total, created_at, status, send_at, started_at, target, created_by, "
        "error FROM broadcasts WHERE id = :id AND organization_id = :org",
        {"id": broadcast_id, "org": organization_id},
    )
    if row is None:
        return None
    counts = dict(
        tx.execute(
            "SELECT status, COUNT(*) FROM flow_starts WHERE broadcast_id = :id GROUP BY status",
            {"id": broadcast_id},
        )
    )
    sent, delivered, read, failed, replied = tx.one(
        "SELECT COALESCE(SUM(CASE WHEN best >= 1 THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN best >= 2 THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN best >= 3 THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(failed), 0), "
        "COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM messages i WHERE i.contact_id = "
        "p.contact_id AND i.direction = 'in' AND i.id > p.first_id) THEN 1 ELSE 0 END), 0) "
        f"FROM ({_PER_CONTACT}) p",
        {"id": broadcast_id},
    ) or (0, 0, 0, 0, 0)
    return {
        "id": broadcast_id,
        "flow": row[0],
        "status": row[3],
        "total": int(row[1]),
        "started": int(counts.get("done", 0)),
        "pending": int(counts.get("pending", 0)),
        # Opted out, blocked or archived when their turn came: nothing was sent to them.
        "skipped": int(counts.get("skipped", 0)),
        "sent": int(sent),
        "delivered": int(delivered),
        "read": int(read),
        "failed": int(failed) + int(counts.get("failed", 0)),
        "replied": int(replied),
        "send_at": _iso(tx.read_ts(row[4])),
        "started_at": _iso(tx.read_ts(row[5])),
        "target": tx.read_json(row[6]),
        "created_by": row[7],
        "error": row[8],
        "created_at": _iso(tx.read_ts(row[2])),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
