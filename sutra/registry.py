"""Name -> implementation tables (actions, case tests, webhook functions)."""

from __future__ import annotations

import inspect
from typing import Any


def _origin(item: Any) -> tuple[str, str]:
    target = getattr(item, "impl", item)
    try:
        filename = inspect.getfile(target)
    except TypeError:
        filename = ""
    return filename, getattr(target, "__qualname__", repr(target))


def register(table: dict[str, Any], kind: str, name: str, item: Any) -> None:
    """Add ``item`` under ``name``; the same definition imported twice is not a clash.

    pytest's doctest collector can import a module a second time, which re-runs its
    registrations; only a *different* definition under a taken name is a mistake.
    """
    existing = table.get(name)
    if existing is not None and _origin(existing) != _origin(item):
        raise ValueError(f"{kind} {name!r} is registered twice")
    table[name] = item
