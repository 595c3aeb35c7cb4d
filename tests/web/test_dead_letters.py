"""A message whose handling fails is tried again when that repeats nothing, then kept as a dead
letter staff can list and replay; other contacts go on meanwhile. The fault is injected into
the runner (nothing in a real flow should raise any more); the pipeline, database and API are
the real ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sutra.config import ServerSettings
from sutra.runtime.runner import Runner
from sutra.testing.openai_server import OpenAIStubServer
from tests.support import eventually
from tests.web.test_simulator_api import Sim, _open, ask_gpt

TOKEN = "dead-letter-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GREETING = "Hi asha! Ask me a question and I will ask GPT."


@pytest.fixture
async def sim(tmp_path: Path, stub: OpenAIStubServer, clean_env: None) -> AsyncIterator[Sim]:
    async with _open(tmp_path, stub, ServerSettings(sutra_api_token=TOKEN)) as opened:
        await opened.import_flows(ask_gpt())
        yield opened


def _break_on(monkeypatch: pytest.MonkeyPatch, faults: dict[str, int]) -> None:
    """Handling ``"<contact>:<text>"`` in ``faults`` raises, that many times."""
    original = Runner.handle

    async def handle(self: Runner, contact: Any, message: Any, **kwargs: Any) -> Any:
        key = f"{contact.urn.partition(':')[2]}:{message.text}"
        if faults.get(key, 0) > 0:
            faults[key] -= 1
            raise RuntimeError("the step broke")
        return await original(self, contact, message, **kwargs)

    monkeypatch.setattr(Runner, "handle", handle)


async def _failures(sim: Sim) -> dict[str, Any]:
    response = await sim.http.get("/api/v1/failures", headers=AUTH)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_a_fault_that_passes_is_tried_again_and_the_contact_answered(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_on(monkeypatch, {"asha:askgpt": 1})
    assert (await sim.send("asha", "askgpt")).status_code < 300

    async def greeted() -> bool:
        return await sim.bot_texts("asha") == [GREETING]

    await eventually(greeted, timeout=10)
    assert (await _failures(sim))["count"] == 0


async def test_a_fault_that_stays_becomes_a_dead_letter_that_can_be_replayed(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = {"asha:askgpt": 99}
    _break_on(monkeypatch, faults)
    assert (await sim.send("asha", "askgpt")).status_code < 300
    # Another contact is not held up by asha's retries.
    assert (await sim.send("bea", "askgpt")).status_code < 300

    async def bea_greeted() -> bool:
        return len(await sim.bot_texts("bea")) == 1

    await eventually(bea_greeted, timeout=5)

    async def dead() -> list[dict[str, Any]]:
        return list((await _failures(sim))["results"])

    [letter] = await eventually(dead, timeout=15)
    assert letter["text"] == "askgpt" and letter["contact"]["urn"].endswith("asha")
    assert letter["attempts"] == 3 and "the step broke" in letter["error"]
    assert await sim.bot_texts("asha") == []  # and never the technical text

    faults["asha:askgpt"] = 0  # the fault is fixed: staff replay the message
    replayed = await sim.http.post(f"/api/v1/messages/{letter['uuid']}/replay", headers=AUTH)
    assert replayed.status_code == 202, replayed.text

    async def greeted() -> bool:
        return await sim.bot_texts("asha") == [GREETING]

    await eventually(greeted, timeout=10)
    assert (await _failures(sim))["count"] == 0
    again = await sim.http.post(f"/api/v1/messages/{letter['uuid']}/replay", headers=AUTH)
    assert again.status_code == 404  # only a failed message can be replayed


async def test_a_fault_after_the_gpt_call_does_not_call_gpt_again(
    sim: Sim, stub: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await sim.send("asha", "askgpt")).status_code < 300

    async def greeted() -> bool:
        return len(await sim.bot_texts("asha")) == 1

    await eventually(greeted)
    original = Runner._flush

    async def flush(self: Runner, writes: list[Any]) -> None:
        if any(write.webhooks for write in writes):  # storing the GPT answer fails
            raise RuntimeError("disk full")
        await original(self, writes)

    monkeypatch.setattr(Runner, "_flush", flush)
    calls = len(stub.requests)
    assert (await sim.send("asha", "What is photosynthesis?")).status_code < 300

    async def dead() -> list[dict[str, Any]]:
        return list((await _failures(sim))["results"])

    [letter] = await eventually(dead, timeout=10)
    assert letter["text"] == "What is photosynthesis?" and "disk full" in letter["error"]
    assert letter["attempts"] == 1  # not tried again: that would ask GPT twice
    assert len(stub.requests) == calls + 1
