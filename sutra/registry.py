"""Name -> implementation tables (actions, case tests, webhook functions)."""

from __future__ import annotations

from typing import Any


def register(table: dict[str, Any], kind: str, name: str, item: Any) -> None:
    """Add ``item`` under ``name``; a second definition under a taken name is a mistake."""
    if name in table:
        raise ValueError(f"{kind} {name!r} is registered twice")
    table[name] = item
