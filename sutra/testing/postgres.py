"""An empty PostgreSQL schema for a test or a benchmark run (never point it at real data)."""

from __future__ import annotations

from sqlalchemy import make_url, text

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


def worker_database(url: str, worker: str) -> str:
    """A database of its own for one parallel test worker (pytest-xdist's ``gw0``...), next to
    the one ``url`` names, created when missing; returns its URL.

    Every worker resets its schema freely, so two workers must never share a database.
    """
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine_for(
        base.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)
