"""An empty PostgreSQL schema for a test or a benchmark run (never point it at real data)."""

from __future__ import annotations

from sqlalchemy import text

from sutra.store.db import create_engine_for


def reset_schema(url: str) -> None:
    """Drop everything in the ``public`` schema of ``url`` and start it afresh."""
    engine = create_engine_for(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
