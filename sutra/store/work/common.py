"""What the units of work share."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())
