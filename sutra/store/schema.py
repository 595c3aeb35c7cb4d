"""Migrating without Alembic where it would have nothing to decide.

Every ``sutra`` command and server start migrates first, and so does each test's new database.
Alembic finds the head revisions by importing itself and every migration (~0.3 s of CPU), and
a new SQLite database runs all the migrations (~0.5 s). Two shortcuts, used by
:func:`sutra.store.db.migrate`:

* a database whose ``alembic_version`` holds the heads read from the migration files' headers
  is current: one query;
* a new SQLite file is a copy of a database migrated once by Alembic, kept in the user's cache
  directory under a digest of the migrations (and of SQLAlchemy's and SQLite's versions), so
  that any change to them makes a new one.

Either declines (returns False) whenever unsure, and Alembic does the work as before.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool


def heads(migrations: Path) -> frozenset[str] | None:
    """The head revisions of the migrations in ``migrations/versions``, from their headers.

    None when a file does not state its ``revision`` and ``down_revision`` as plain literals
    before its first function, or depends on another branch.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations / "versions").glob("*.py"):
        header = path.read_text(encoding="utf-8").split("\ndef ", 1)[0]
        found: dict[str, Any] = {}
        try:
            for node in ast.parse(header).body:
                if isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = node.target, node.value
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                else:
                    continue
                if isinstance(target, ast.Name):
                    found[target.id] = ast.literal_eval(value)
        except (SyntaxError, ValueError):
            return None
        revision, down = found.get("revision"), found.get("down_revision", ...)
        if not isinstance(revision, str) or found.get("depends_on") is not None:
            return None
        if isinstance(down, str):
            down = (down,)
        if down is None:
            down = ()
        if not isinstance(down, tuple | list) or not all(isinstance(d, str) for d in down):
            return None
        revisions.add(revision)
        parents.update(down)
    return frozenset(revisions - parents) or None


def is_current(url: str, migrations: Path) -> bool:
    """Whether the database (a synchronous driver's URL) is at the migrations' heads."""
    expected = heads(migrations)
    if expected is None:
        return False
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return False
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return {row[0] for row in rows} == expected
    except SQLAlchemyError:
        # Locked by a migration under way, say: Alembic's path waits for it.
        return False
    finally:
        engine.dispose()


def from_template(url: str, migrations: Path, upgrade: Callable[[str], None]) -> bool:
    """Create the SQLite file ``url`` names, which must not exist yet, as a copy of a migrated
    one (made with ``upgrade`` the first time). False, and nothing created, otherwise."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or parsed.query:
        return False
    target = Path(name)
    if target.exists() or not target.parent.is_dir():
        return False
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        shutil.copyfile(_template(migrations, upgrade), partial)
        # A link, not a rename: it fails when another process created the file meanwhile,
        # which may be in use by now.
        os.link(partial, target)
    except OSError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True


def _template(migrations: Path, upgrade: Callable[[str], None]) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache")
    template = cache / "sutra" / f"schema-{_digest(migrations)}.db"
    if template.is_file():
        return template
    template.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    building = template.with_name(f".{template.stem}.{os.getpid()}.{threading.get_ident()}.db")
    try:
        upgrade(f"sqlite:///{building}")
        # Whole or not at all for the processes copying it; a concurrent build is the same.
        os.replace(building, template)
    finally:
        for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
            leftover.unlink(missing_ok=True)
    return template


def _digest(migrations: Path) -> str:
    digest = hashlib.sha256(f"{sqlalchemy.__version__} {sqlite3.sqlite_version}".encode())
    for path in sorted([migrations / "env.py", *(migrations / "versions").glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]
