"""The hot path's database: one thread per process, plain statements, group commit.

Every message costs a handful of small writes. Done one transaction each through the async
ORM they cost ~2 ms of CPU apiece; here a unit of work is a plain function ``fn(tx, ...)``
run in a dedicated thread, and every unit queued while the previous commit was under way
goes into the next transaction together (group commit). Each caller awaits its own unit's
commit, so nothing is acknowledged before it is durable, and a thousand contacts writing
at once cost a few commits, not a thousand.

The same SQL runs on SQLite (``sqlite3``) and PostgreSQL (``psycopg``): statements use
``:name`` parameters, and :class:`Tx` hides the few differences (timestamps, JSON).
SQLAlchemy still owns the schema and migrations; this module only reads and writes rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.engine import make_url

from sutra.store.db import SQLITE_BUSY_TIMEOUT_MS, database_url, sync_url

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
J = TypeVar("J")
Unit = Callable[..., Any]

# How many units one transaction takes at most: a bound on how long a commit keeps the
# others waiting, and on what one failing unit makes the batch redo.
MAX_BATCH = 256
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"


class Tx:
    """What a unit of work sees: execute statements, convert values for this database."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.postgres = dialect == "postgresql"

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(_translate(sql, self.postgres), params or {})
        return cursor.fetchall() if cursor.description else []

    def one(self, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def executemany(self, sql: str, params: Sequence[dict[str, Any]]) -> None:
        if params:
            cursor = self.conn.cursor()
            cursor.executemany(_translate(sql, self.postgres), params)

    # --- values ------------------------------------------------------------------------------

    def ts(self, value: datetime | None) -> Any:
        """A timestamp as SQLAlchemy's ``UTCDateTime`` stores it, so the ORM reads it back."""
        if value is None:
            return None
        utc = value.astimezone(UTC)
        return utc if self.postgres else utc.strftime(_SQLITE_TS)

    def json(self, value: Any) -> Any:
        if value is None:
            return None
        if self.postgres:
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return json.dumps(value)

    def read_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def read_ts(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


@lru_cache(maxsize=256)
def _translate(sql: str, postgres: bool) -> str:
    """``:name`` parameters as the driver wants them (sqlite3 takes them as written)."""
    if not postgres:
        return sql
    escaped = sql.replace("%", "%%")
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", escaped)


class _Job:
    __slots__ = ("args", "done", "fn", "loop")

    def __init__(
        self, fn: Unit, args: tuple[Any, ...], loop: asyncio.AbstractEventLoop | None
    ) -> None:
        self.fn = fn
        self.args = args
        self.loop = loop
        self.done: asyncio.Future[Any] | Future[Any]


class HotDB:
    """A database connection owned by one thread, running units of work in group commits."""

    def __init__(self, url: str | None = None, *, max_batch: int = MAX_BATCH) -> None:
        self.url = sync_url(url or database_url())
        self.dialect = make_url(self.url).get_backend_name()
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._listening = threading.Event()
        self.commits = 0
        self.units = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> HotDB:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="sutra-hotdb", daemon=True)
            self._thread.start()
            self._ready.wait()
            if self._error is not None:
                raise self._error
        return self

    def listen(self, channel: str, wake: Callable[[], None]) -> bool:
        """Call ``wake`` (from another thread) on every ``NOTIFY channel``: PostgreSQL only;
        False on SQLite, where every writer is this process anyway."""
        if self.dialect != "postgresql":
            return False
        import psycopg

        url = make_url(self.url).set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        conn.execute(f"LISTEN {channel}")
        self._listening.set()

        def serve() -> None:
            try:
                while self._listening.is_set():
                    # A timeout, so close() is seen within a second.
                    for _ in conn.notifies(timeout=1.0):
                        wake()
            except Exception:  # the database went away: the periodic sweep still runs
                log.warning("listening for %s stopped", channel, exc_info=True)
            finally:
                conn.close()

        threading.Thread(target=serve, name=f"sutra-listen-{channel}", daemon=True).start()
        return True

    def close(self) -> None:
        self._listening.clear()
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    # --- calls -------------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(tx, *args)`` in the next group commit; returns once it is durable."""
        loop = asyncio.get_running_loop()
        job = _Job(fn, args, loop)
        job.done = loop.create_future()
        self._jobs.put(job)
        return await job.done  # type: ignore[no-any-return]

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """The same from a thread without an event loop (CLI, tests)."""
        job = _Job(fn, args, None)
        job.done = Future()
        self._jobs.put(job)
        return job.done.result()  # type: ignore[no-any-return]

    # --- the thread --------------------------------------------------------------------------

    def _connect(self) -> Any:
        url = make_url(self.url)
        if self.dialect == "sqlite":
            conn = sqlite3.connect(
                url.database or ":memory:",
                isolation_level=None,
                check_same_thread=False,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            )
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        import psycopg

        return psycopg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
        )

    def _serve(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        tx = Tx(conn, self.dialect)
        try:
            while True:
                batch, stop = next_batch(self._jobs, self.max_batch)
                if batch:
                    self._run_batch(tx, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _run_batch(self, tx: Tx, batch: list[_Job]) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            self._begin(tx)
            results = [(True, job.fn(tx, *job.args)) for job in batch]
            tx.conn.execute("COMMIT")
            self.commits += 1
        except BaseException as error:
            self._rollback(tx)
            if len(batch) == 1 and not _is_transient(error):
                results = [(False, error)]
            else:
                # One unit failed: redo each alone, so the others still commit and only the
                # failing one's caller sees its error.
                results = [self._run_alone(tx, job) for job in batch]
        self.units += len(batch)
        for job, (ok, value) in zip(batch, results, strict=True):
            _resolve(job, ok, value)

    def _run_alone(self, tx: Tx, job: _Job) -> tuple[bool, Any]:
        for attempt in range(5):
            try:
                self._begin(tx)
                value = job.fn(tx, *job.args)
                tx.conn.execute("COMMIT")
                self.commits += 1
                return True, value
            except BaseException as exc:
                self._rollback(tx)
                if not _is_transient(exc) or attempt == 4:
                    return False, exc
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _begin(self, tx: Tx) -> None:
        # SQLite: take the write lock up front, so a transaction never fails half way for
        # another process's writer (the busy timeout queues it instead).
        tx.conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")

    def _rollback(self, tx: Tx) -> None:
        # No transaction may be open (BEGIN itself failed).
        with contextlib.suppress(Exception):
            tx.conn.execute("ROLLBACK")


def next_batch(jobs: queue.SimpleQueue[J | None], limit: int) -> tuple[list[J], bool]:
    """Wait for the next job, then take whatever else is queued (up to ``limit``): the group
    of one commit. ``None`` in the queue means stop (after this batch)."""
    first = jobs.get()
    if first is None:
        return [], True
    batch = [first]
    while len(batch) < limit:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            break
        if job is None:
            return batch, True
        batch.append(job)
    return batch, False


def _is_transient(exc: BaseException) -> bool:
    """Deadlocks and serialization failures between processes: worth a second try."""
    code = getattr(exc, "sqlstate", None)
    if code in ("40001", "40P01"):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _resolve(job: _Job, ok: bool, value: Any) -> None:
    done = job.done
    if job.loop is None:
        assert isinstance(done, Future)
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)
        return

    def settle() -> None:
        if done.done():  # the caller was cancelled
            return
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)

    try:
        job.loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop closed while the unit ran
        log.debug("hotdb: result for a closed event loop dropped")
