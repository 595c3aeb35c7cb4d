"""Fair shares of LLM calls: one organisation's burst never makes another's first calls wait,
bursts stop at their limit, and freed room goes to the organisation with the fewest calls."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from sutra.engine.session import Input
from sutra.orgs.fairshare import FairShare
from sutra.store import work
from sutra.store.db import create_engine_for, migrate
from sutra.store.hotdb import HotDB
from sutra.store.work.ingest import Arrival
from sutra.testing.postgres import reset_schema


async def _hold(share: FairShare, org: int, started: list[int], gate: asyncio.Event) -> None:
    async with share.slot(org):
        started.append(org)
        await gate.wait()


async def test_a_burst_of_one_organisation_leaves_the_others_their_share() -> None:
    share = FairShare(guaranteed=3, burst=20, total=24)
    started: list[int] = []
    gate = asyncio.Event()
    burst = [asyncio.create_task(_hold(share, 1, started, gate)) for _ in range(500)]
    await asyncio.sleep(0)
    # Organisation 1 bursts to its limit and no further; the rest of its calls wait.
    assert share.running(1) == 20
    others = [asyncio.create_task(_hold(share, org, started, gate)) for org in (2, 3, 2, 2, 2)]
    await asyncio.sleep(0)
    # Organisations 2 and 3 start at once: 2 gets its guaranteed 3 and bursts into the
    # room the process has left (24 in all), 3 gets its first.
    assert (share.running(2), share.running(3)) == (3, 1)
    assert started.count(2) == 3 and started.count(3) == 1
    gate.set()
    await asyncio.gather(*burst, *others)
    assert share.running(1) == share.running(2) == 0


async def test_freed_room_goes_to_the_organisation_with_fewest_calls_first() -> None:
    share = FairShare(guaranteed=1, burst=None, total=4)
    first = asyncio.Event()
    started: list[int] = []
    running = [asyncio.create_task(_hold(share, 1, started, first)) for _ in range(4)]
    await asyncio.sleep(0)
    assert share.running(1) == 4
    later = asyncio.Event()
    queued = [asyncio.create_task(_hold(share, 1, started, later)) for _ in range(3)]
    b = asyncio.create_task(_hold(share, 2, started, later))
    b_again = asyncio.create_task(_hold(share, 2, started, later))
    await asyncio.sleep(0)
    # Organisation 2's first call runs over the total (it is its guaranteed one); its second
    # waits with organisation 1's queue.
    assert started[-1] == 2 and share.running(2) == 1
    first.set()
    await asyncio.gather(*running)
    # As room frees, organisation 2 (1 call running) goes before organisation 1, which queued
    # first but had more running; then organisation 1's queue, as far as the total lets it.
    assert started[5:] == [2, 1, 1]
    assert (share.running(1), share.running(2)) == (2, 2)
    later.set()
    await asyncio.gather(*queued, b, b_again)


async def test_a_cancelled_wait_gives_its_turn_away() -> None:
    share = FairShare(guaranteed=1, burst=1, total=None)
    gate = asyncio.Event()
    started: list[int] = []
    holder = asyncio.create_task(_hold(share, 1, started, gate))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(share.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    gate.set()
    await holder
    assert share.running(1) == 0
    async with share.slot(1):
        assert share.running(1) == 1


async def test_another_organisation_never_spends_the_platform_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sutra.config import get_settings
    from sutra.llm.base import LLMError
    from sutra.llm.select import get_provider, provider_mode

    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-platforms-key")
    get_settings.cache_clear()
    # The default organisation uses the environment's key; another one, without its own key,
    # gets the local model in auto mode and a clear refusal when it asks for OpenAI.
    assert provider_mode({}) == "openai"
    assert provider_mode({"platform_key": False}) == "local"
    with pytest.raises(LLMError, match="no OpenAI key"):
        get_provider({"platform_key": False, "llm": "openai"})
    own = {"platform_key": False, "openai_api_key": "sk-its-own"}
    assert provider_mode(own) == "openai"
    get_settings.cache_clear()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not os.environ.get("SUTRA_TEST_POSTGRES_URL"),
                reason="set SUTRA_TEST_POSTGRES_URL (scripts/start-postgres.sh)",
            ),
        ),
    ]
)
def hot_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HotDB]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sutra.db'}"
    else:
        url = os.environ["SUTRA_TEST_POSTGRES_URL"]
        reset_schema(url)
    migrate(url)
    engine = create_engine_for(url)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO organizations (id, name, timezone, settings, created_at, "
                "updated_at) VALUES (2, 'Second', 'UTC', '{}', :now, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
    engine.dispose()
    db = HotDB(url).start()
    yield db
    db.close()


async def test_the_sweeper_takes_organisations_in_turns(hot_db: HotDB) -> None:
    # Organisation 1 has a backlog of 30 contacts with a message each; organisation 2 then
    # gets one. A batch of 3 holds organisation 2's contact, not just the backlog's oldest.
    backlog = [
        Arrival(1, f"whatsapp:9190000000{i:02d}", "whatsapp", Input(text="hi")) for i in range(30)
    ]
    await hot_db.run(work.ingest, backlog)
    [(other, stored)] = await hot_db.run(
        work.ingest, [Arrival(2, "whatsapp:919111111111", "whatsapp", Input(text="hello"))]
    )
    assert stored
    now = datetime.now(UTC)
    taken = await hot_db.run(work.claim_many, "sweeper", now + timedelta(seconds=30), now, 3)
    assert len(taken) == 3
    assert (other, 2) in taken
