"""A flow imported while the runner is refreshing its cache runs on the very next message."""

from __future__ import annotations

import asyncio
import json

from sutra.engine.session import Input
from sutra.flows import parse_flow_file
from sutra.runtime.runner import Runner

from .helpers import EXAMPLES


def _renamed(keyword: str, uuid: str) -> object:
    """The example GPT flow as another flow, started by another keyword."""
    data = json.loads((EXAMPLES / "ask_gpt.json").read_text())
    flow = data["flows"][0]
    flow["definition"]["uuid"] = uuid
    flow["definition"]["name"] = f"Flow for {keyword}"
    flow["keywords"] = [keyword]
    return data


async def test_an_import_during_a_refresh_is_not_overwritten(runner: Runner) -> None:
    await runner.repo.import_flow_file(
        parse_flow_file(_renamed("first", "f1000000-0000-4000-8000-000000000001"))
    )
    await runner.engine()

    # A refresh that has read the old keywords and is still under way...
    proceed = asyncio.Event()
    read_keywords = runner.repo.keywords

    async def slow_keywords() -> dict[str, str]:
        found = await read_keywords()
        await proceed.wait()
        return found

    runner.repo.keywords = slow_keywords  # type: ignore[method-assign]
    runner.refresh_every = 0  # the cache is stale: the next look refreshes
    stale = asyncio.create_task(runner.engine())
    await asyncio.sleep(0.05)
    runner.refresh_every = 60

    # ...while an import in this process invalidates the cache.
    await runner.repo.import_flow_file(
        parse_flow_file(_renamed("second", "f1000000-0000-4000-8000-000000000002"))
    )
    runner.invalidate()
    proceed.set()
    await stale
    runner.repo.keywords = read_keywords  # type: ignore[method-assign]

    contact = await runner.repo.contact("sim:refresh", name="Asha")
    outcome = await runner.receive(contact, Input(text="second"))
    assert outcome is not None
    assert outcome.started_flow == "f1000000-0000-4000-8000-000000000002"
    assert [e.text for e in outcome.events if e.type == "msg_out"] == [
        "Hi Asha! Ask me a question and I will ask GPT."
    ]
