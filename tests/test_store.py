"""Storage layer: URLs, migrations, constraints and JSON, on SQLite and PostgreSQL.

PostgreSQL runs too when ``SUTRA_TEST_POSTGRES_URL`` names a database the tests
may wipe (its ``public`` schema is dropped before each test)::

    SUTRA_TEST_POSTGRES_URL=$(scripts/start-postgres.sh) .venv/bin/pytest tests/test_store.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, String, delete, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, selectinload

from sutra.assistants.models import FULL_TEXT_NAMES, include_name
from sutra.store import (
    DATABASE_URL_ENV,
    async_url,
    create_async_engine_for,
    create_engine_for,
    create_session_factory,
    database_url,
    migrate,
    safe_url,
    sync_url,
)
from sutra.store.db import (
    MIGRATIONS_DIR,
    SQLITE_BUSY_TIMEOUT_MS,
    alembic_config,
    migration_connection,
)
from sutra.store.models import (
    Base,
    Contact,
    Flow,
    FlowResult,
    FlowRevision,
    FlowSession,
    Group,
    Message,
    Organization,
    Run,
    WebhookLog,
    contact_groups,
)
from sutra.store.schema import heads as migration_heads
from sutra.testing.postgres import reset_schema

POSTGRES_URL = os.environ.get("SUTRA_TEST_POSTGRES_URL", "").strip()
PASSWORD = "hunter2-s3cret"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="set SUTRA_TEST_POSTGRES_URL (scripts/start-postgres.sh)"
            ),
        ),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each available kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sutra.db'}"
    reset_schema(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def migrated_url(url: str) -> str:
    migrate(url)
    return url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = create_engine_for(migrated_url)
    yield engine
    engine.dispose()


def _contact(session: Session, urn: str = "whatsapp:919812345678") -> Contact:
    contact = Contact(organization_id=1, urn=urn, name="Asha")
    session.add(contact)
    session.flush()
    return contact


def _message(contact: Contact, **overrides: Any) -> Message:
    values: dict[str, Any] = {
        "organization_id": 1,
        "contact_id": contact.id,
        "direction": "in",
        "text": "hi",
        "channel": "whatsapp",
        "status": "received",
    }
    values.update(overrides)
    return Message(**values)


def _flow_result(contact: Contact, **overrides: Any) -> FlowResult:
    values: dict[str, Any] = {
        "organization_id": 1,
        "flow_uuid": "f-1",
        "run_uuid": "r-1",
        "session_uuid": "s-1",
        "contact_id": contact.id,
        "key": "age",
        "name": "Age",
        "input": "12",
        "value": "12",
        "category": "Child",
    }
    values.update(overrides)
    return FlowResult(**values)


def _session(contact: Contact, **overrides: Any) -> FlowSession:
    values: dict[str, Any] = {
        "organization_id": 1,
        "contact_id": contact.id,
        "status": "waiting",
        "state": {},
    }
    values.update(overrides)
    return FlowSession(**values)


# --- URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "sync", "async_"),
    [
        ("sqlite:////data/sutra.db", "sqlite+pysqlite:////data/sutra.db", None),
        ("sqlite:///rel/sutra.db", "sqlite+pysqlite:///rel/sutra.db", None),
        ("sqlite+pysqlite:///x.db", "sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        (
            "postgresql://u:pw@db:5432/sutra",
            "postgresql+psycopg://u:pw@db:5432/sutra",
            "postgresql+asyncpg://u:pw@db:5432/sutra",
        ),
        ("postgres://u@db/sutra", "postgresql+psycopg://u@db/sutra", None),
        (
            "postgresql+asyncpg://u@db/s",
            "postgresql+psycopg://u@db/s",
            "postgresql+asyncpg://u@db/s",
        ),
        # A driver named for the right mode is kept.
        ("postgresql+psycopg2://u@db/s", "postgresql+psycopg2://u@db/s", None),
        (
            "postgresql+psycopg://u@db/s",
            "postgresql+psycopg://u@db/s",
            "postgresql+psycopg://u@db/s",
        ),
        # Escaped characters in the password survive the round trip.
        ("postgresql://u:p%40ss%2Fw@db/s", "postgresql+psycopg://u:p%40ss%2Fw@db/s", None),
        (
            "postgresql://u@db/s?sslmode=require",
            "postgresql+psycopg://u@db/s?sslmode=require",
            "postgresql+asyncpg://u@db/s?ssl=require",
        ),
    ],
)
def test_driver_selection(given: str, sync: str, async_: str | None) -> None:
    assert sync_url(given) == sync
    if async_ is not None:
        assert async_url(given) == async_


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgres://u@db/s", "postgresql+asyncpg://u@db/s"),
        ("postgresql+psycopg2://u@db/s", "postgresql+asyncpg://u@db/s"),
    ],
)
def test_async_driver_selection(given: str, expected: str) -> None:
    assert async_url(given) == expected


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (f"mysql://root:{PASSWORD}@db/sutra", "'mysql'"),
        (f"mysql+pymysql://root:{PASSWORD}@db/sutra", "'mysql'"),
        (f"postgresql+pg9000://root:{PASSWORD}@db/sutra", "'pg9000'"),
        (f"sqlite+pysqlcipher://root:{PASSWORD}@/x.db", "'pysqlcipher'"),
        (f"not a url {PASSWORD}", "could not parse"),
        (f"://root:{PASSWORD}@db", "could not parse"),
    ],
)
@pytest.mark.parametrize("convert", [sync_url, async_url, create_async_engine_for])
def test_unsupported_urls_are_refused_without_the_password(
    given: str, named: str, convert: Any
) -> None:
    with pytest.raises(ValueError) as excinfo:
        convert(given)
    message = str(excinfo.value)
    assert named in message
    assert PASSWORD not in message
    assert PASSWORD not in repr(excinfo.value)


def test_safe_url_masks_the_password() -> None:
    masked = safe_url(f"postgresql://root:{PASSWORD}@db/sutra")
    assert PASSWORD not in masked
    assert masked == "postgresql://root:***@db/sutra"
    assert PASSWORD not in safe_url(f"garbage {PASSWORD}")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_database_url_defaults_to_sutra_db_in_cwd(
    value: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    else:
        monkeypatch.setenv(DATABASE_URL_ENV, value)
    assert database_url() == f"sqlite:///{tmp_path / 'sutra.db'}"


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "postgres://u@db/s")
    assert database_url() == "postgres://u@db/s"


# --- migrations -------------------------------------------------------------


def test_migrate_is_idempotent(url: str) -> None:
    migrate(url)
    migrate(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [(head,)]
            tables = set(inspect(conn).get_table_names()) - FULL_TEXT_NAMES
            assert tables == {*Base.metadata.tables, "alembic_version"}
            orgs = conn.execute(text("SELECT id, name, timezone FROM organizations")).all()
            assert orgs == [(1, "Default", "UTC")]
    finally:
        engine.dispose()


def test_migration_heads_are_alembics() -> None:
    # migrate() skips Alembic when the database is at these heads: they must be Alembic's own.
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert migration_heads(MIGRATIONS_DIR) == frozenset(heads)


def test_migrate_upgrades_a_database_one_revision_behind(url: str) -> None:
    migrate(url)
    config = alembic_config(url)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    with migration_connection(url) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")

    def version() -> list[Any]:
        engine = create_engine_for(url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text("SELECT version_num FROM alembic_version")).all())
        finally:
            engine.dispose()

    assert version() == [(previous,)]
    migrate(url)
    assert version() == [(head,)]


def test_migrate_on_a_current_database_does_not_load_alembic(migrated_url: str) -> None:
    # Every sutra command migrates first; when there is nothing to do, it costs a query.
    probe = (
        "import sys\n"
        "from sutra.store.db import migrate\n"
        f"migrate({migrated_url!r})\n"
        "print('alembic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False", done.stderr


def test_a_new_sqlite_database_is_a_copy_of_a_migrated_one(tmp_path: Path) -> None:
    # The first new database of a cache runs the migrations; later ones copy its result, with
    # the same schema, revision and default organisation, without loading Alembic.
    cache = tmp_path / "cache"
    probe = (
        "import sys\n"
        "from sutra.store.db import migrate\n"
        "migrate(sys.argv[1])\n"
        "print('alembic' in sys.modules)\n"
    )

    def new_database(name: str) -> tuple[str, str]:
        url = f"sqlite:///{tmp_path / name}"
        done = subprocess.run(
            [sys.executable, "-c", probe, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        )
        return url, done.stdout.strip()

    assert new_database("first.db")[1] == "True"
    assert len(list((cache / "sutra").glob("schema-*.db"))) == 1
    url, loaded = new_database("second.db")
    assert loaded == "False"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [(head,)]
            orgs = conn.execute(text("SELECT id, name FROM organizations")).all()
            assert orgs == [(1, "Default")]
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_migrate_defaults_to_environment_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # From a directory with no alembic.ini, which must not matter.
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{target}")
    migrate()
    assert target.exists()
    assert not (tmp_path / "sutra.db").exists()
    engine = create_engine_for(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            assert "messages" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": include_name,
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_alembic_check_through_env_py(migrated_url: str) -> None:
    # The command-line path of env.py: no connection handed over, a URL in the config.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", migrated_url)
    command.check(config)  # raises when the models need a new migration


def test_downgrade_to_base_and_back(engine: Engine, migrated_url: str) -> None:
    # With rows in place, so that SQLite's table rebuilds meet foreign keys.
    with Session(engine) as session:
        contact = _contact(session)
        contact.groups = [Group(organization_id=1, name="G")]
        flow = Flow(organization_id=1, uuid="f-1", name="F")
        flow.current_revision = FlowRevision(
            flow=flow, revision=1, definition={}, spec_version="13"
        )
        session.add(flow)
        session.commit()
    engine.dispose()

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", migrated_url)
    command.downgrade(config, "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate(migrated_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_sqlite_table_rebuild_keeps_dependent_rows(tmp_path: Path) -> None:
    """Later migrations will rebuild SQLite tables (batch mode: copy, drop, rename);
    dropping the original must not cascade to the rows that reference it."""
    url = f"sqlite:///{tmp_path / 'sutra.db'}"
    migrate(url)
    engine = create_engine_for(url)
    try:
        with Session(engine) as session:
            contact = _contact(session)
            session.add(_message(contact))
            session.add(_session(contact))
            session.commit()
        with migration_connection(url) as conn:
            operations = Operations(MigrationContext.configure(conn))
            with operations.batch_alter_table("contacts", recreate="always") as batch:
                batch.alter_column("name", existing_type=String(), nullable=True)
        with Session(engine) as session:
            for model in (Contact, Message, FlowSession):
                assert session.scalar(select(func.count()).select_from(model)) == 1, model
    finally:
        engine.dispose()


def test_concurrent_migrations_do_not_collide(url: str) -> None:
    """Workers starting together on an empty database must all come up.

    Separate processes, each released by a line on its stdin once its imports
    are done, so that the migrations overlap; several rounds because a race
    does not show every time.
    """
    code = (
        "import sys\n"
        "from sutra.store import migrate\n"
        "print('ready', flush=True)\n"
        "for _ in sys.stdin:\n"
        "    migrate(sys.argv[1])\n"
        "    print('done', flush=True)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]

    def stop_all() -> None:
        for proc in procs:
            proc.kill()

    # A worker that hangs would leave readline() below waiting for ever.
    watchdog = threading.Timer(120, stop_all)
    watchdog.start()

    def expect(proc: subprocess.Popen[str], wanted: str) -> None:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line != wanted:
            stop_all()
            pytest.fail(f"worker said {line!r}, not {wanted!r}:\n{line}{proc.stdout.read()}")

    try:
        for proc in procs:
            expect(proc, "ready\n")
        for _ in range(4):
            if url.startswith("sqlite"):
                database = make_url(url).database
                assert database is not None
                for suffix in ("", "-wal", "-shm"):
                    Path(database + suffix).unlink(missing_ok=True)
            else:
                reset_schema(url)
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            for proc in procs:
                expect(proc, "done\n")
            engine = create_engine_for(url)
            try:
                with engine.connect() as conn:
                    versions = conn.execute(text("SELECT count(*) FROM alembic_version"))
                    assert versions.scalar() == 1
                    orgs = conn.execute(text("SELECT count(*) FROM organizations"))
                    assert orgs.scalar() == 1
            finally:
                engine.dispose()
    finally:
        watchdog.cancel()
        stop_all()
        for proc in procs:
            proc.communicate()


# --- models and constraints -------------------------------------------------


def test_default_organization_and_new_ids(engine: Engine) -> None:
    with Session(engine) as session:
        default = session.get_one(Organization, 1)
        assert (default.name, default.timezone, default.settings) == ("Default", "UTC", {})
        assert default.created_at.tzinfo is UTC
        # On PostgreSQL the seed row's explicit id must have moved the sequence on.
        second = Organization(name="Second")
        session.add(second)
        session.commit()
        assert second.id == 2
        assert second.timezone == "UTC"


def test_duplicate_inbound_message_is_refused(engine: Engine) -> None:
    with Session(engine) as session:
        contact = _contact(session)
        session.add(_message(contact, external_id="wamid.1"))
        session.commit()

        session.add(_message(contact, external_id="wamid.1"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()

        # The same id on another channel, and messages with no id, are fine.
        session.add(_message(contact, external_id="wamid.1", channel="gupshup"))
        session.add(_message(contact, direction="out", status="queued"))
        session.add(_message(contact, direction="out", status="queued"))
        session.commit()
        assert session.scalar(select(func.count()).select_from(Message)) == 4


def test_flow_result_is_unique_per_run_and_key(engine: Engine) -> None:
    with Session(engine) as session:
        contact = _contact(session)
        session.add(_flow_result(contact))
        session.commit()

        session.add(_flow_result(contact, value="13"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()

        # The same key in another run is another row.
        session.add(_flow_result(contact, run_uuid="r-2"))
        session.commit()

        # Re-saving a result: an upsert on (run_uuid, key) updates the row.
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(FlowResult).values(
            organization_id=1,
            flow_uuid="f-1",
            run_uuid="r-1",
            session_uuid="s-1",
            contact_id=contact.id,
            key="age",
            name="Age",
            value="14",
            category="Teen",
            data={"value": "14"},
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_uuid", "key"],
            set_={"value": stmt.excluded.value, "category": stmt.excluded.category},
        )
        session.execute(stmt)
        session.commit()
        rows = session.execute(
            select(FlowResult.run_uuid, FlowResult.value, FlowResult.category).order_by(
                FlowResult.run_uuid
            )
        ).all()
        assert rows == [("r-1", "14", "Teen"), ("r-2", "12", "Child")]


def test_contact_groups(engine: Engine) -> None:
    with Session(engine) as session:
        contact = _contact(session)
        other = _contact(session, urn="sim:other")
        mothers = Group(organization_id=1, name="Mothers")
        district = Group(organization_id=1, name="District 7")
        contact.groups = [mothers, district]
        other.groups = [district]
        session.commit()
        contact_id, mothers_id = contact.id, mothers.id

    with Session(engine) as session:
        loaded = session.scalars(
            select(Contact).options(selectinload(Contact.groups)).where(Contact.id == contact_id)
        ).one()
        assert sorted(g.name for g in loaded.groups) == ["District 7", "Mothers"]
        district = session.scalars(select(Group).where(Group.name == "District 7")).one()
        assert sorted(c.urn for c in district.contacts) == ["sim:other", "whatsapp:919812345678"]

        # Deleting a group removes its memberships in the database (on SQLite
        # only when foreign keys are switched on), not its contacts.
        session.execute(delete(Group).where(Group.id == mothers_id))
        session.commit()
        memberships = session.execute(
            select(contact_groups.c.group_id).where(contact_groups.c.contact_id == contact_id)
        ).all()
        assert memberships == [(district.id,)]
        assert session.get(Contact, contact_id) is not None

        session.add(Group(organization_id=1, name="District 7"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_contact_is_unique_per_organization_and_urn(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Organization(name="Other"))
        session.flush()
        _contact(session)
        session.add(Contact(organization_id=2, urn="whatsapp:919812345678"))
        session.commit()
        session.add(Contact(organization_id=1, urn="whatsapp:919812345678"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_deleting_a_contact_cascades(engine: Engine) -> None:
    with Session(engine) as session:
        contact = _contact(session)
        flow_session = _session(contact)
        session.add(flow_session)
        session.flush()
        session.add(
            Run(session_id=flow_session.id, flow_uuid="f-1", contact_id=contact.id, status="active")
        )
        session.add(_message(contact))
        session.add(_flow_result(contact))
        log = WebhookLog(organization_id=1, contact_id=contact.id, method="POST", url="https://x")
        session.add(log)
        session.commit()

        session.execute(delete(Contact).where(Contact.id == contact.id))
        session.commit()
        for model in (FlowSession, Run, Message, FlowResult):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model
        session.refresh(log)
        assert log.contact_id is None


def test_flow_revisions(engine: Engine) -> None:
    with Session(engine) as session:
        flow = Flow(organization_id=1, uuid="f-1", name="Registration", keywords=["join"])
        first = FlowRevision(revision=1, definition={"nodes": []}, spec_version="13.1.0")
        second = FlowRevision(revision=2, definition={"nodes": [{}]}, spec_version="13.1.0")
        flow.revisions = [first, second]
        # Both rows point at each other; one flush must sort that out.
        flow.current_revision = second
        session.add(flow)
        session.commit()
        assert flow.current_revision_id == second.id
        assert (flow.archived, second.issues, second.created_by) == (False, [], None)

        session.add(FlowRevision(flow_id=flow.id, revision=2, definition={}, spec_version="13"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()

        session.execute(delete(FlowRevision).where(FlowRevision.id == second.id))
        session.commit()
        session.refresh(flow)
        assert flow.current_revision_id is None
        assert [r.revision for r in flow.revisions] == [1]


def test_timestamps_are_stored_and_returned_in_utc(engine: Engine) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    deadline = datetime(2030, 1, 1, 12, 0, tzinfo=india)
    with Session(engine) as session:
        contact = _contact(session)
        session.add(_session(contact, wait_kind="msg", wait_timeout_at=deadline))
        session.commit()

    with Session(engine) as session:
        stored = session.scalars(select(FlowSession)).one()
        assert stored.wait_timeout_at == deadline
        assert stored.wait_timeout_at is not None and stored.wait_timeout_at.tzinfo is UTC
        assert stored.wait_timeout_at.hour == 6 and stored.wait_timeout_at.minute == 30
        assert stored.created_at.tzinfo is UTC

        def due(now: datetime) -> list[str]:
            return list(
                session.scalars(select(FlowSession.uuid).where(FlowSession.wait_timeout_at <= now))
            )

        # Comparisons must follow the instant, whatever zone the bound value is in.
        assert due(datetime(2030, 1, 1, 6, 29, tzinfo=UTC)) == []
        assert due(datetime(2030, 1, 1, 6, 31, tzinfo=UTC)) == [stored.uuid]
        assert due(datetime(2030, 1, 1, 11, 59, tzinfo=india)) == []

        stored.expires_at = datetime(2030, 1, 1, 12, 0)  # naive
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


# --- async engine -----------------------------------------------------------


async def test_async_json_round_trip(migrated_url: str) -> None:
    engine = create_async_engine_for(migrated_url)
    sessions = create_session_factory(engine)
    state = {
        "uuid": "s-1",
        "runs": [{"path": [{"node": "n1", "exit": None}], "results": {"age": {"value": "12"}}}],
        "contact": {"name": "Asha · आशा", "fields": {"score": 1.5, "tags": ["a", "b"]}},
        "flags": {"done": False, "count": 0, "nothing": None},
    }
    payload = {"entry": [{"changes": [{"value": {"messages": [{"id": "wamid.1"}]}}]}]}
    try:
        async with sessions() as session:
            contact = Contact(organization_id=1, urn="sim:async", fields={"district": "7"})
            session.add(contact)
            await session.flush()
            session.add(_session(contact, state=state))
            session.add(_message(contact, payload=payload, attachments=["image/jpeg:https://x"]))
            session.add(_message(contact, external_id="other"))
            await session.commit()
            contact_id = contact.id

        async with sessions() as session:
            stored = (await session.scalars(select(FlowSession))).one()
            assert stored.state == state
            messages = (await session.scalars(select(Message).order_by(Message.id))).all()
            assert messages[0].payload == payload
            assert messages[0].attachments == ["image/jpeg:https://x"]
            assert messages[1].quick_replies == []
            # An absent payload is SQL NULL, not the JSON literal null.
            nulls = await session.scalar(
                select(func.count()).select_from(Message).where(Message.payload.is_(None))
            )
            assert nulls == 1

            # Top-level changes to contact fields are noticed without reassignment.
            contact = await session.get_one(Contact, contact_id)
            contact.fields["age"] = "30"
            await session.commit()

        async with sessions() as session:
            contact = await session.get_one(Contact, contact_id)
            assert contact.fields == {"district": "7", "age": "30"}
            groups = await contact.awaitable_attrs.groups
            assert groups == []
    finally:
        await engine.dispose()


async def test_sqlite_connections_share_the_file_safely(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sutra.db'}"
    migrate(url)
    engine = create_async_engine_for(url)
    try:
        async with engine.connect() as conn:
            settings = [
                (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
        assert settings == ["wal", 1, SQLITE_BUSY_TIMEOUT_MS]
    finally:
        await engine.dispose()


async def test_concurrent_imports_of_one_flow_file_all_succeed(migrated_url: str) -> None:
    # Two staff uploading the same export at once (or a retried upload) race for the same new
    # rows: flows (organisation, uuid), the revision number, fields and groups.
    from sutra.flows.load import read_flow_file
    from sutra.store.db import create_session_factory
    from sutra.store.repository import Repository

    examples = Path(__file__).resolve().parents[1] / "examples"
    flow_file = read_flow_file(examples / "ask_gpt.json")
    engine = create_async_engine_for(migrated_url)
    try:
        repo = Repository(create_session_factory(engine))
        results = await asyncio.gather(*(repo.import_flow_file(flow_file) for _ in range(8)))
        assert [len(r) for r in results] == [1] * 8
        assert {r[0].revision for r in results} == {1}
        assert sum(r[0].changed for r in results) == 1
        flows = await repo.load_flows()
        assert list(flows) == [results[0][0].uuid]
    finally:
        await engine.dispose()
