"""LLM features through the runtime, against the loopback OpenAI stub: conversation memory,
usage records and ``sutra usage``, budgets, per-organisation keys, and GPT vision.

The stub counts tokens as words, so the expected totals are computed from what it received.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from sutra.config import get_settings
from sutra.flows import read_flow_file
from sutra.runtime.runner import Runner
from sutra.store import models as m
from sutra.store.db import create_engine_for
from sutra.testing.openai_server import OpenAIStubServer, Reply

from .conftest import HttpReply, WebhookServer
from .helpers import converse, gpt_flow, rows, run_cli, webhook_flow, write_flow

PROMPT = "Be brief."
# A tiny but valid PNG header is all the fetcher looks at; the rest is padding.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


def words(text: str) -> int:
    return len(text.split())


def set_org_settings(database_url: str, settings: dict[str, Any]) -> None:
    engine = create_engine_for(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(m.Organization).where(m.Organization.id == 1).values(settings=settings)
            )
    finally:
        engine.dispose()


class Env:
    """Sets SUTRA_* variables for a runner that is already open: settings are read (and cached)
    when a call is made, so the cache is cleared with each change."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def set(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)
        get_settings.cache_clear()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    yield Env(monkeypatch)
    get_settings.cache_clear()


def chat_flow(tmp_path: Path, name: str = "flow.json", **body: Any) -> Path:
    """A flow that asks, calls parse_via_chat_gpt with ``body`` and asks again, forever."""
    fields = {"question_text": "@results.question", "prompt": PROMPT, **body}
    return write_flow(tmp_path, gpt_flow(fields, loop=True), name)


# --- conversation memory -------------------------------------------------------------------------


async def test_memory_sends_the_first_turn_with_the_second_question(
    runner: Runner, openai_stub: OpenAIStubServer, tmp_path: Path
) -> None:
    openai_stub.plan(Reply("Nice to meet you, Asha."), Reply("Your name is Asha."))

    chat = await converse(
        runner, chat_flow(tmp_path, memory=True), "My name is Asha.", "What is my name?"
    )

    assert chat.messages[-1] == "Your name is Asha."
    first, second = openai_stub.requests
    system = {"role": "system", "content": PROMPT}
    assert first["messages"] == [system, {"role": "user", "content": "My name is Asha."}]
    assert second["messages"] == [
        system,
        {"role": "user", "content": "My name is Asha."},
        {"role": "assistant", "content": "Nice to meet you, Asha."},
        {"role": "user", "content": "What is my name?"},
    ]
    assert chat.results["gpt_response"]["thread_id"] == f"contact-{chat.contact.id}"


async def test_without_memory_each_question_stands_alone(
    runner: Runner, openai_stub: OpenAIStubServer, tmp_path: Path, database_url: str
) -> None:
    chat = await converse(runner, chat_flow(tmp_path), "My name is Asha.", "What is my name?")

    assert [len(r["messages"]) for r in openai_stub.requests] == [2, 2]
    assert "thread_id" not in chat.results["gpt_response"]
    assert rows(database_url, m.LLMTurn) == []


async def test_a_thread_carried_by_the_flow_is_remembered_and_private(
    runner: Runner, openai_stub: OpenAIStubServer, tmp_path: Path
) -> None:
    # The flow passes the thread id it got back, as Glific flows do with filesearch.
    flow = chat_flow(tmp_path, memory=True, thread_id="@results.gpt_response.thread_id")

    asha = await converse(runner, flow, "I live in Pune.", "Where do I live?", urn="sim:asha")
    ravi = await converse(runner, flow, "Where do I live?", urn="sim:ravi")

    asks = [r["messages"] for r in openai_stub.requests]
    assert [m["content"] for m in asks[1]] == [
        PROMPT,
        "I live in Pune.",
        "echo: I live in Pune.",
        "Where do I live?",
    ]
    # Ravi's own thread: nothing of Asha's.
    assert [m["content"] for m in asks[2]] == [PROMPT, "Where do I live?"]
    assert asha.results["gpt_response"]["thread_id"] != ravi.results["gpt_response"]["thread_id"]


async def test_another_contacts_thread_id_finds_nothing(
    runner: Runner, openai_stub: OpenAIStubServer, tmp_path: Path
) -> None:
    remembering = chat_flow(tmp_path, memory=True)
    # The thread id Asha's conversation gets (her contact is the first, id 1).
    stealing = chat_flow(tmp_path, "other.json", thread_id="contact-1")
    # Both stored before the runner first loads flows (it looks for new ones once a second).
    await runner.repo.import_flow_file(read_flow_file(stealing))

    asha = await converse(runner, remembering, "My PIN is 1234.", urn="sim:a")
    assert asha.results["gpt_response"]["thread_id"] == "contact-1"
    await converse(runner, stealing, "What is my PIN?", urn="sim:b")

    assert [m["content"] for m in openai_stub.requests[-1]["messages"]] == [
        PROMPT,
        "What is my PIN?",
    ]


async def test_memory_keeps_the_last_turns_within_the_token_budget(
    runner: Runner, openai_stub: OpenAIStubServer, tmp_path: Path, env: Env, database_url: str
) -> None:
    env.set("SUTRA_LLM_MEMORY_TURNS", "2")
    env.set("SUTRA_LLM_MEMORY_TOKENS", "40")
    long_answer = "word " * 100  # ~125 estimated tokens: over the budget on its own
    openai_stub.plan(Reply("one"), Reply(long_answer), Reply("three"), Reply("four"), Reply("5"))

    await converse(runner, chat_flow(tmp_path, memory=True), "q1", "q2", "q3", "q4", "q5")

    contents = [[m["content"] for m in r["messages"][1:]] for r in openai_stub.requests]
    assert contents[1] == ["q1", "one", "q2"]
    # q2's long answer does not fit, so nothing older than it is sent either.
    assert contents[2] == ["q3"]
    assert contents[3] == ["q3", "three", "q4"]
    # Only two turns are kept.
    assert contents[4] == ["q3", "three", "q4", "four", "q5"]
    assert len(rows(database_url, m.LLMTurn)) == 2


# --- usage and budgets ---------------------------------------------------------------------------


async def test_every_call_is_recorded_and_sutra_usage_adds_them_up(
    runner: Runner,
    openai_stub: OpenAIStubServer,
    tmp_path: Path,
    database_url: str,
    cli_env: dict[str, str],
) -> None:
    answers = ["Paris is the capital.", "It is Delhi.", "Yes."]
    openai_stub.plan(*(Reply(a) for a in answers))
    flow = chat_flow(tmp_path)

    asha = await converse(runner, flow, "Capital of France?", "Capital of India?", urn="sim:asha")
    await converse(runner, flow, "Is water wet?", urn="sim:ravi")

    prompt = sum(words(m["content"]) for r in openai_stub.requests for m in r["messages"])
    completion = sum(words(a) for a in answers)
    records = rows(database_url, m.LLMUsage)
    assert len(records) == 3
    first = min(records, key=lambda r: r["id"])
    assert (first["provider"], first["model"], first["function"]) == (
        "openai",
        "gpt-4o",
        "parse_via_chat_gpt",
    )
    assert first["contact_id"] == asha.contact.id
    assert first["organization_id"] == 1
    assert first["latency_ms"] > 0
    # gpt-4o: $2.50 / $10 per million tokens.
    expected = (first["prompt_tokens"] * 2.5 + first["completion_tokens"] * 10) / 1e6
    assert first["cost"] == pytest.approx(expected)

    env = {**cli_env, "SUTRA_DATABASE_URL": database_url}
    done = run_cli("usage", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    total = json.loads(done.stdout)["total"]
    assert total["calls"] == 3
    assert total["prompt_tokens"] == prompt
    assert total["completion_tokens"] == completion
    assert total["total_tokens"] == prompt + completion
    assert total["cost"] == pytest.approx((prompt * 2.5 + completion * 10) / 1e6, abs=1e-6)

    by_contact = json.loads(
        run_cli("usage", "--json", "--by", "contact", env=env, cwd=tmp_path).stdout
    )["groups"]
    assert sorted((g["urn"], g["calls"]) for g in by_contact) == [("sim:asha", 2), ("sim:ravi", 1)]
    by_flow = json.loads(run_cli("usage", "--json", "--by", "flow", env=env, cwd=tmp_path).stdout)
    assert [(g["flow"], g["calls"]) for g in by_flow["groups"]] == [("E2E GPT flow", 3)]
    by_model = json.loads(run_cli("usage", "--json", "--by", "model", env=env, cwd=tmp_path).stdout)
    assert [(g["provider"], g["model"]) for g in by_model["groups"]] == [("openai", "gpt-4o")]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    later = json.loads(
        run_cli("usage", "--json", "--since", tomorrow, env=env, cwd=tmp_path).stdout
    )
    assert later["total"]["calls"] == 0

    table = run_cli("usage", "--by", "model", env=env, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "gpt-4o" in table.stdout and f"{prompt + completion:,}" in table.stdout


def test_usage_refuses_an_unknown_grouping(tmp_path: Path, cli_env: dict[str, str]) -> None:
    done = run_cli("usage", "--by", "colour", env=cli_env, cwd=tmp_path)

    assert done.returncode == 2
    assert "use one of flow, contact, model" in done.stderr


async def test_a_contact_over_the_daily_cap_takes_the_failure_branch(
    runner: Runner, openai_stub: OpenAIStubServer, tmp_path: Path, env: Env
) -> None:
    env.set("SUTRA_LLM_CONTACT_DAILY_TOKENS", "10")
    flow = chat_flow(tmp_path)

    # 2 + 3 prompt words, 4 answer words ("echo: one two three"): 9 tokens, under the cap.
    chat = await converse(runner, flow, "one two three", "four five six", "seven")

    assert chat.messages[1:] == [
        "echo: one two three",
        # 9 + 2 + 3 + 4 = 18 tokens: over the cap now, so the LLM is not asked again.
        "echo: four five six",
        "Sorry, that failed: budget exceeded",
    ]
    assert chat.results["gpt_response"]["category"] == "Failure"
    assert len(openai_stub.requests) == 2
    # The cap is per contact.
    other = await converse(runner, flow, "hello", urn="sim:other")
    assert other.messages[1] == "echo: hello"


async def test_an_organisation_over_its_monthly_budget_takes_the_failure_branch(
    runner: Runner,
    openai_stub: OpenAIStubServer,
    tmp_path: Path,
    database_url: str,
    env: Env,
) -> None:
    # The platform has no budget; the organisation sets its own.
    set_org_settings(database_url, {"llm_monthly_budget": 0.00001})
    flow = chat_flow(tmp_path)

    first = await converse(runner, flow, "one two three", urn="sim:a")
    second = await converse(runner, flow, "four", urn="sim:b")

    # The first call is allowed ($0 spent) and costs more than the budget.
    assert first.messages[1] == "echo: one two three"
    assert second.messages[1] == "Sorry, that failed: budget exceeded"
    assert len(openai_stub.requests) == 1
    [log] = [r for r in rows(database_url, m.WebhookLog) if r["status_code"] == 429]
    assert log["error"] == "budget exceeded"


# --- providers per organisation ------------------------------------------------------------------

ORG_KEY = "sk-org-0123456789abcdefORGKEY"


async def test_an_organisations_own_key_is_used_without_a_platform_key(
    runner: Runner, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    async with OpenAIStubServer(api_key=ORG_KEY) as org_stub:
        set_org_settings(
            database_url, {"openai_api_key": ORG_KEY, "openai_base_url": org_stub.base_url}
        )

        chat = await converse(runner, chat_flow(tmp_path), "Hello?")

        assert chat.messages[1] == "echo: Hello?"
        assert org_stub.headers[0]["authorization"] == f"Bearer {ORG_KEY}"
    [record] = rows(database_url, m.LLMUsage)
    assert record["provider"] == "openai"
    assert ORG_KEY not in json.dumps(
        [dict(r) for r in rows(database_url, m.WebhookLog)], default=str
    )


# --- vision --------------------------------------------------------------------------------------


def vision_flow(tmp_path: Path, url: str, **body: Any) -> Path:
    return write_flow(
        tmp_path,
        webhook_flow(
            method="FUNCTION",
            url="parse_via_gpt_vision",
            body={"url": url, "prompt": "What is in the photo?", "model": "gpt-4o", **body},
            result_name="gpt_response",
            ask="Send a photo.",
            success="@results.gpt_response.response",
            failure="Sorry, that failed: @results.gpt_response.error",
        ),
    )


async def test_vision_sends_the_image_inline(
    runner: Runner,
    openai_stub: OpenAIStubServer,
    webhook_server: WebhookServer,
    tmp_path: Path,
    database_url: str,
) -> None:
    webhook_server.plan(HttpReply(body=PNG, content_type="image/png"))
    openai_stub.plan(Reply("A white square."))

    chat = await converse(
        runner, vision_flow(tmp_path, f"{webhook_server.base_url}/photo.png?token=abc"), "sent"
    )

    assert chat.messages[-1] == "A white square."
    assert chat.results["gpt_response"]["response"] == "A white square."
    [request] = openai_stub.requests
    assert request["model"] == "gpt-4o"
    assert request["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in the photo?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
                },
            ],
        }
    ]
    [record] = rows(database_url, m.LLMUsage)
    assert record["function"] == "parse_via_gpt_vision"


async def test_vision_recognises_an_image_served_as_octet_stream(
    runner: Runner, openai_stub: OpenAIStubServer, webhook_server: WebhookServer, tmp_path: Path
) -> None:
    webhook_server.plan(HttpReply(body=PNG))  # bytes go out as application/octet-stream

    chat = await converse(runner, vision_flow(tmp_path, f"{webhook_server.base_url}/x"), "sent")

    assert chat.results["gpt_response"]["category"] == "Success"
    url = openai_stub.requests[0]["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            HttpReply(body="<html>login</html>", content_type="text/html"),
            "not an image (text/html)",
        ),
        (HttpReply(body=b"%PDF-1.7", content_type="image/png"), "not a JPEG, PNG, GIF or WebP"),
        (HttpReply(status=404, body={"error": "gone"}), "could not fetch the image: HTTP 404"),
        (HttpReply(body=PNG + bytes(2000), content_type="image/png"), "larger than 1,000 bytes"),
    ],
)
async def test_vision_refuses_what_is_not_a_usable_image(
    runner: Runner,
    openai_stub: OpenAIStubServer,
    webhook_server: WebhookServer,
    tmp_path: Path,
    env: Env,
    reply: HttpReply,
    reason: str,
) -> None:
    env.set("SUTRA_VISION_MAX_BYTES", "1000")
    webhook_server.plan(reply)

    chat = await converse(
        runner, vision_flow(tmp_path, f"{webhook_server.base_url}/img?token=SECRET"), "sent"
    )

    assert chat.results["gpt_response"]["category"] == "Failure"
    assert reason in chat.messages[-1]
    assert "SECRET" not in chat.messages[-1]
    assert openai_stub.requests == []


async def test_vision_on_the_local_model_fails_with_a_hint(
    runner: Runner,
    openai_stub: OpenAIStubServer,
    webhook_server: WebhookServer,
    tmp_path: Path,
    env: Env,
) -> None:
    env.set("SUTRA_LLM", "local")
    webhook_server.plan(HttpReply(body=PNG, content_type="image/png"))

    chat = await converse(runner, vision_flow(tmp_path, f"{webhook_server.base_url}/p"), "sent")

    assert chat.messages[-1] == (
        "Sorry, that failed: the local model cannot read images; set OPENAI_API_KEY for vision"
    )
    assert openai_stub.requests == []
