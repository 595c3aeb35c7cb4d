"""Small helpers the test packages share."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 10.0) -> T:
    """Poll like a page does until ``check`` gives something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {timeout} s: last value {value!r}")
        await asyncio.sleep(0.05)


def databases() -> list[Any]:
    """Parameters for a test to run once per database: SQLite, then PostgreSQL when
    SUTRA_TEST_POSTGRES_URL is set."""
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get("SUTRA_TEST_POSTGRES_URL"):
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


def fresh_database(kind: str, tmp_path: Path) -> str:
    """A new SQLite file's URL, or this worker's PostgreSQL database with its schema dropped."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'sutra.db'}"
    from sutra.testing.postgres import reset_schema

    url = os.environ["SUTRA_TEST_POSTGRES_URL"]
    reset_schema(url)
    return url
