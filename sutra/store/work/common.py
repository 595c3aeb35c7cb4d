"""What the units of work share."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sutra.store.hotdb import Tx

# The channel idle workers LISTEN on (PostgreSQL): new work no process has claimed yet.
WORK_CHANNEL = "sutra_work"


def announce(tx: Tx) -> None:
    """Wake idle workers of every process when this transaction commits (PostgreSQL folds
    repeats within one transaction); on SQLite there is one process, already awake."""
    if tx.postgres:
        tx.execute(f"NOTIFY {WORK_CHANNEL}")


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())
