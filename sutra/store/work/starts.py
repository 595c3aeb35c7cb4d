"""Flow starts and broadcasts: durable starts, a group's in batches, and their progress."""

from __future__ import annotations

from typing import Any

from sutra.store.hotdb import Tx
from sutra.store.work.common import announce, now_utc

# Contacts per transaction when a flow is started for a whole group: replies keep flowing
# between the batches of a 100,000-contact broadcast.
START_BATCH = 5000


def new_broadcast(tx: Tx, organization_id: int, flow_uuid: str) -> int:
    row = tx.one(
        "INSERT INTO broadcasts (organization_id, flow_uuid, total, created_at) "
        "VALUES (:org, :flow, 0, :now) RETURNING id",
        {"org": organization_id, "flow": flow_uuid, "now": tx.ts(now_utc())},
    )
    assert row is not None
    return int(row[0])


def add_starts(
    tx: Tx, organization_id: int, flow_uuid: str, contact_ids: list[int], broadcast_id: int
) -> list[int]:
    """Start the flow for these contacts (those of the organisation); returns their ids."""
    now = tx.ts(now_utc())
    added = []
    for contact_id in contact_ids:
        row = tx.one(
            "INSERT INTO flow_starts (organization_id, contact_id, flow_uuid, broadcast_id, "
            "status, created_at) SELECT :org, id, :flow, :broadcast, 'pending', :now "
            "FROM contacts WHERE id = :contact AND organization_id = :org RETURNING contact_id",
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
        "AND NOT EXISTS (SELECT 1 FROM flow_starts s WHERE s.broadcast_id = :broadcast "
        "AND s.contact_id = cg.contact_id) ORDER BY cg.contact_id LIMIT :limit "
        "RETURNING contact_id",
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


def broadcast_progress(tx: Tx, organization_id: int, broadcast_id: int) -> dict[str, Any] | None:
    row = tx.one(
        "SELECT flow_uuid, total, created_at FROM broadcasts WHERE id = :id AND "
        "organization_id = :org",
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
    return {
        "id": broadcast_id,
        "flow": row[0],
        "total": int(row[1]),
        "started": int(counts.get("done", 0)),
        "pending": int(counts.get("pending", 0)),
        "created_at": str(tx.read_ts(row[2])),
    }
