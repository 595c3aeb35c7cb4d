"""Scheduled triggers: each occurrence due becomes one broadcast, exactly once.

Every process's broadcast scheduler calls :func:`launch_due_schedules` each round. In one
transaction it moves a due schedule's ``next_run_at`` on (guarded by the value it read, and on
PostgreSQL under ``FOR UPDATE SKIP LOCKED``) and stores a broadcast due now; so two processes
looking at once launch it once, and a crash either did both or neither. The broadcast's starts
are then written like any other's. Occurrences missed while no process ran are launched once,
late, and the next is the first one after now (a day's messages do not pile up).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sutra.recurrence import Recurrence, next_run
from sutra.store.hotdb import Tx
from sutra.store.work.common import now_utc
from sutra.store.work.starts import new_broadcast

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launched:
    schedule_id: int
    organization_id: int
    broadcast_id: int | None
    next_run_at: datetime | None


def recurrence_of(frequency: str, days: Any, at_time: str, end_date: Any) -> Recurrence:
    """A stored schedule's rule (``end_date`` as either back end hands it back)."""
    if end_date is not None and not isinstance(end_date, date):
        end_date = date.fromisoformat(str(end_date)[:10])
    return Recurrence(
        frequency="weekly" if frequency == "weekly" else "daily",
        at=at_time,
        days=tuple(days or ()),
        end_date=end_date,
    )


def launch_due_schedules(tx: Tx, now: datetime, limit: int = 20) -> list[Launched]:
    """A broadcast for each enabled schedule whose time has come; the next time worked out."""
    skip = " FOR UPDATE OF s SKIP LOCKED" if tx.postgres else ""
    rows = tx.execute(
        "SELECT s.id, s.organization_id, s.flow_uuid, s.target, s.frequency, s.days, "
        "s.at_time, s.end_date, s.next_run_at, o.timezone, "
        "(SELECT COUNT(*) FROM flows f WHERE f.organization_id = s.organization_id "
        "AND f.uuid = s.flow_uuid AND f.archived = :no) "
        "FROM schedules s JOIN organizations o ON o.id = s.organization_id "
        "WHERE s.enabled = :yes AND s.next_run_at IS NOT NULL AND s.next_run_at <= :now "
        f"ORDER BY s.next_run_at, s.id LIMIT :limit{skip}",
        {"yes": True, "no": False, "now": tx.ts(now), "limit": limit},
    )
    launched = []
    for sid, org, flow, target, frequency, days, at_time, end_date, due, zone, alive in rows:
        rule = recurrence_of(frequency, tx.read_json(days), at_time, end_date)
        due_at = tx.read_ts(due)
        assert due_at is not None
        upcoming = next_run(rule, max(now, due_at), zone or "UTC")
        moved = tx.one(
            "UPDATE schedules SET next_run_at = :next, last_run_at = :due, updated_at = :now "
            "WHERE id = :id AND next_run_at = :due RETURNING id",
            {"next": tx.ts(upcoming), "due": due, "now": tx.ts(now_utc()), "id": sid},
        )
        if moved is None:
            continue  # another process launched this occurrence a moment ago
        broadcast = None
        if alive:
            broadcast = new_broadcast(
                tx,
                int(org),
                str(flow),
                target=tx.read_json(target) or {},
                send_at=now,
                created_by=f"schedule {sid}",
            )
            tx.execute(
                "UPDATE schedules SET last_broadcast_id = :b WHERE id = :id",
                {"b": broadcast, "id": sid},
            )
        else:
            log.warning("schedule %s: flow %s is archived or gone; occurrence skipped", sid, flow)
        launched.append(Launched(int(sid), int(org), broadcast, upcoming))
    return launched
