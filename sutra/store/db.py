"""Database URLs, engines and migrations.

Users write plain URLs (``sqlite:///path/to/sutra.db``,
``postgresql://user:pass@host:5432/db``); this module picks the driver: the
sync ones (pysqlite, psycopg 3) for migrations and scripts, the async ones
(aiosqlite, asyncpg) for the runtime.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from sutra.store import schema
from sutra.text import storable_json

if TYPE_CHECKING:
    # Alembic (~0.4 s to import) only when migrating: every command and test imports this
    # module through the models.
    from alembic.config import Config

__all__ = [
    "DATABASE_URL_ENV",
    "MIGRATIONS_DIR",
    "SQLITE_BUSY_TIMEOUT_MS",
    "alembic_config",
    "async_url",
    "create_async_engine_for",
    "create_engine_for",
    "create_session_factory",
    "database_url",
    "migrate",
    "migration_connection",
    "safe_url",
    "sync_url",
    "upgrade",
]

DATABASE_URL_ENV = "SUTRA_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# How long a SQLite connection waits for another process's write lock before
# failing with "database is locked"; a CLI and a server share one file.
SQLITE_BUSY_TIMEOUT_MS = 15_000

# Arbitrary constant naming the PostgreSQL advisory lock that serializes
# concurrent ``migrate()`` calls (several workers starting at once).
_MIGRATION_LOCK_KEY = 0x5E77A_0001

_Mode = Literal["sync", "async"]

_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}
# Drivers accepted as written in each mode, the first being the default. A
# driver known for the other mode is swapped for the default, so that one
# ``SUTRA_DATABASE_URL`` serves both the migrations and the runtime.
_DRIVERS: dict[str, dict[_Mode, tuple[str, ...]]] = {
    "sqlite": {"sync": ("pysqlite",), "async": ("aiosqlite",)},
    "postgresql": {
        "sync": ("psycopg", "psycopg2", "pg8000"),
        # psycopg 3 has an asyncio mode that SQLAlchemy selects by itself.
        "async": ("asyncpg", "psycopg", "psycopg_async"),
    },
}


def database_url() -> str:
    """``$SUTRA_DATABASE_URL``, or a ``sutra.db`` SQLite file in the current directory."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    return f"sqlite:///{Path.cwd() / 'sutra.db'}"


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _with_driver(url: str | URL, mode: _Mode) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        # SQLAlchemy's own message may quote the URL, password included.
        raise ValueError("could not parse the database URL") from None
    backend_name, _, driver = parsed.drivername.partition("+")
    backend = _BACKENDS.get(backend_name.lower())
    if backend is None:
        raise ValueError(
            f"unsupported database scheme {backend_name!r} in {safe_url(parsed)}: "
            "use sqlite:///path/to/file.db or postgresql://user:password@host:port/db"
        )
    drivers = _DRIVERS[backend]
    driver = driver.lower()
    if driver not in drivers[mode]:
        other: _Mode = "async" if mode == "sync" else "sync"
        if driver and driver not in drivers[other]:
            raise ValueError(
                f"unsupported {backend} driver {driver!r} in {safe_url(parsed)}; "
                f"use one of {', '.join(drivers['sync'] + drivers['async'])} or none"
            )
        driver = drivers[mode][0]
    parsed = parsed.set(drivername=f"{backend}+{driver}")
    if driver == "asyncpg" and "sslmode" in parsed.query and "ssl" not in parsed.query:
        # Hosted PostgreSQL URLs carry libpq's ``sslmode``; asyncpg spells it ``ssl``
        # and refuses the unknown keyword.
        parsed = parsed.update_query_dict({"ssl": parsed.query["sslmode"]}).difference_update_query(
            ["sslmode"]
        )
    return parsed


def sync_url(url: str | URL) -> str:
    """The URL with a synchronous driver (``sqlite+pysqlite``, ``postgresql+psycopg``).

    >>> sync_url("postgres://u:secret@db:5432/sutra")
    'postgresql+psycopg://u:secret@db:5432/sutra'
    """
    return _with_driver(url, "sync").render_as_string(hide_password=False)


def async_url(url: str | URL) -> str:
    """The URL with an asyncio driver (``sqlite+aiosqlite``, ``postgresql+asyncpg``).

    >>> async_url("sqlite:///data/sutra.db")
    'sqlite+aiosqlite:///data/sutra.db'
    """
    return _with_driver(url, "async").render_as_string(hide_password=False)


def _install_sqlite_pragmas(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # The busy timeout makes writers queue for the lock instead of
            # failing at once. SQLite leaves foreign keys off unless asked, per
            # connection, which would silently skip every ON DELETE rule.
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            _enable_wal(cursor)
            # In WAL mode NORMAL still survives a crash or kill of the process (the WAL is
            # fsynced at checkpoints); only a power loss can drop the last commits. FULL
            # would fsync on every commit, several per message.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def _enable_wal(cursor: Any) -> None:
    # WAL lets readers proceed while one process writes, and sticks to the file.
    # Switching needs an exclusive lock and SQLite does not wait for it (no busy
    # handler), so two processes opening a new file together can collide: retry
    # briefly, then carry on in the default journal mode, which is only slower;
    # a later connection will switch.
    for _ in range(50):
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.fetchall()
            return
        except Exception as exc:  # the driver's OperationalError, sync or async flavour
            if "locked" not in str(exc):
                raise
            time.sleep(0.01)


def create_engine_for(url: str | None = None, **kwargs: Any) -> Engine:
    """A synchronous engine (pysqlite / psycopg) for scripts, tests and migrations.

    SQLite connections get WAL, a busy timeout and foreign keys, like the async engine.
    """
    engine = create_engine(sync_url(url or database_url()), **kwargs)
    if engine.dialect.name == "sqlite":
        _install_sqlite_pragmas(engine, foreign_keys=True)
    return engine


def create_async_engine_for(url: str | None = None, **kwargs: Any) -> AsyncEngine:
    """The runtime's engine (aiosqlite / asyncpg); ``url`` defaults to :func:`database_url`.

    Extra keyword arguments go to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    target = async_url(url or database_url())
    if target.startswith("sqlite"):
        # SQLite has one writer at a time. Several connections in one process would collide
        # and wait in SQLite's busy handler, which sleeps in steps of up to 100 ms; one
        # connection makes the process's sessions queue on the pool instead, at no cost.
        kwargs = {"pool_size": 1, "max_overflow": 0, **kwargs}
    # What staff and the API write may hold a NUL or a lone surrogate, which neither database
    # stores; the hot path cleans its own input where it enters.
    kwargs.setdefault("json_serializer", storable_json)
    engine = create_async_engine(target, **kwargs)
    if engine.dialect.name == "sqlite":
        _install_sqlite_pragmas(engine.sync_engine, foreign_keys=True)
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for ``engine``.

    ``expire_on_commit=False``: under asyncio, touching an expired attribute
    after commit would need implicit IO, which raises instead of loading.
    """
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for the packaged migrations, independent of the cwd."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Avoid configparser interpolation of '%' in passwords by handing the URL
    # over as an attribute rather than as an ini option.
    config.attributes["sutra_url"] = sync_url(url or database_url())
    return config


def _migration_engine(url: str) -> Engine:
    engine = create_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        # Foreign keys off: a batch migration rebuilds a table by copying it,
        # dropping the original and renaming the copy; with foreign keys on,
        # that drop would cascade to (delete) every row referencing the table.
        _install_sqlite_pragmas(engine, foreign_keys=False)

        # pysqlite would only open a transaction at the first INSERT/UPDATE, so
        # the CREATE TABLEs would each commit on their own. Taking the write
        # lock up front with BEGIN IMMEDIATE makes the whole upgrade atomic and
        # makes a second concurrent migrate() wait, then find nothing to do.
        @event.listens_for(engine, "connect")
        def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def migration_connection(url: str | None = None) -> Iterator[Connection]:
    """A connection for running migrations, inside one transaction that commits
    at the end of the block, held by one process at a time.

    Concurrent holders queue: on PostgreSQL on an advisory lock, on SQLite on
    the database's write lock.
    """
    engine = _migration_engine(sync_url(url or database_url()))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Transaction-scoped: released by the commit or rollback.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            yield connection
    finally:
        engine.dispose()


def migrate(url: str | None = None) -> None:
    """Bring the schema to the latest revision (Alembic ``upgrade head``).

    Idempotent, and safe when several processes start at once: they take turns
    (see :func:`migration_connection`) and the later ones find the schema
    current. The whole upgrade is one transaction, on SQLite too. A database
    already at the head needs no Alembic, nor does a new SQLite file once one
    was made (see :mod:`sutra.store.schema`).
    """
    target = sync_url(url or database_url())
    if schema.from_template(target, MIGRATIONS_DIR, upgrade) or schema.is_current(
        target, MIGRATIONS_DIR
    ):
        return
    upgrade(target)


def upgrade(url: str | None = None) -> None:
    """Alembic's ``upgrade head``, on a connection of :func:`migration_connection`."""
    from alembic import command

    config = alembic_config(url)
    with migration_connection(config.attributes["sutra_url"]) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
