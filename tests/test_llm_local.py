"""The embedded model (SmolLM2-135M through xllamacpp) behind the LLM provider interface.

The model is loaded once for the whole module (engines are process-wide); answers are kept short
because generation runs on the CPU.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sutra.config import Settings
from sutra.llm import local_provider
from sutra.llm.base import LLMError
from sutra.llm.local_provider import LocalConfig, LocalProvider, default_threads
from sutra.llm.select import get_provider, provider_mode

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="session")
def local() -> Iterator[LocalProvider]:
    provider = LocalProvider(LocalConfig(max_tokens=24))
    yield provider
    local_provider.shutdown()


# --- the request sent to llama.cpp (no model needed) ---------------------------------------------


def test_without_a_system_prompt_a_default_one_and_a_repetition_penalty_are_added() -> None:
    provider = LocalProvider(LocalConfig(system_prompt="Be helpful.", repeat_penalty=1.2))

    body = provider.request(FRANCE, 0.0, None, None)

    assert body["messages"] == [{"role": "system", "content": "Be helpful."}, *FRANCE]
    assert body["repeat_penalty"] == 1.2
    assert body["max_tokens"] == LocalConfig().max_tokens
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_a_blank_system_prompt_counts_as_none() -> None:
    provider = LocalProvider(LocalConfig(system_prompt="Be helpful."))

    body = provider.request([{"role": "system", "content": "  "}, *FRANCE], 0.0, None, 10)

    assert body["messages"] == [{"role": "system", "content": "Be helpful."}, *FRANCE]
    assert body["max_tokens"] == 10


def test_the_flows_system_prompt_is_kept_and_no_penalty_added() -> None:
    messages = [{"role": "system", "content": "Answer in French."}, *FRANCE]

    body = LocalProvider().request(messages, 0.3, None, None)

    assert body["messages"] == messages
    assert body["temperature"] == 0.3
    assert "repeat_penalty" not in body


def test_json_answers_get_no_repetition_penalty() -> None:
    # It would punish the quotes and braces that JSON repeats.
    body = LocalProvider().request(FRANCE, 0.0, {"type": "json_object"}, None)

    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["role"] == "system"
    assert "repeat_penalty" not in body


def test_threads_default_to_half_the_cpus() -> None:
    assert 1 <= default_threads() <= 8


# --- provider selection --------------------------------------------------------------------------


def test_auto_means_openai_with_a_key_and_local_without(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Settings(llm="auto")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert provider_mode({}, config) == "local"
    assert isinstance(get_provider({}, config), LocalProvider)
    # An organisation's own key is enough.
    assert provider_mode({"openai_api_key": "sk-org"}, config) == "openai"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-platform")
    assert provider_mode({}, config) == "openai"
    assert get_provider({}, config).name == "openai"


def test_the_mode_can_be_forced_for_the_platform_or_an_organisation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-platform")
    assert provider_mode({}, Settings(llm="local")) == "local"
    assert provider_mode({"llm": "local"}, Settings(llm="openai")) == "local"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert provider_mode({}, Settings(llm="openai")) == "openai"
    with pytest.raises(LLMError, match="unknown LLM provider 'gemini'"):
        provider_mode({"llm": "gemini"}, Settings())


def test_the_local_provider_is_shared() -> None:
    config = Settings(llm="local")
    assert get_provider({}, config) is get_provider({}, config)


# --- the model -----------------------------------------------------------------------------------


async def test_answers_a_simple_question_with_a_default_system_prompt(
    local: LocalProvider,
) -> None:
    completion = await local.complete(FRANCE, model="gpt-4o")

    assert "Paris" in completion.text
    assert completion.finish_reason == "stop"
    usage = completion.usage
    assert (usage.provider, usage.model) == ("local", "SmolLM2-135M-Instruct.Q4_1")
    assert usage.prompt_tokens > 10
    assert 0 < usage.completion_tokens <= 24
    assert usage.latency_ms > 0


async def test_json_object_is_a_parseable_object(local: LocalProvider) -> None:
    messages = [
        {"role": "system", "content": "Reply with a JSON object with the key capital."},
        *FRANCE,
    ]

    completion = await local.complete(
        messages, model="gpt-4o", response_format={"type": "json_object"}, max_tokens=200
    )

    assert isinstance(json.loads(completion.text), dict)


async def test_json_schema_is_followed(local: LocalProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string"}},
        "required": ["capital"],
        "additionalProperties": False,
    }
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "strict": True, "schema": schema},
    }

    completion = await local.complete(
        FRANCE, model="gpt-4o", response_format=response_format, max_tokens=60
    )

    assert list(json.loads(completion.text)) == ["capital"]


async def test_a_json_answer_cut_by_max_tokens_is_an_error(local: LocalProvider) -> None:
    with pytest.raises(LLMError, match="JSON answer was cut off after 3 tokens"):
        await local.complete(
            FRANCE, model="gpt-4o", response_format={"type": "json_object"}, max_tokens=3
        )


async def test_twenty_requests_at_once_all_get_answers(local: LocalProvider) -> None:
    engine = local.engine("gpt-4o")
    questions = [f"What is {i} plus {i}?" for i in range(20)]

    completions = await asyncio.gather(
        *(
            local.complete([{"role": "user", "content": q}], model="gpt-4o", max_tokens=8)
            for q in questions
        )
    )

    assert all(c.text.strip() and c.usage.completion_tokens > 0 for c in completions)
    # The requests beyond the parallel slots waited in the queue; none is left behind.
    assert (engine.queued, engine.running) == (0, 0)


async def test_the_listener_refuses_requests_without_the_key(local: LocalProvider) -> None:
    address = await asyncio.to_thread(lambda: local.engine("gpt-4o").listening_address)
    assert address.startswith("http://127.0.0.1:")
    request = {"messages": FRANCE, "max_tokens": 2}

    async with httpx.AsyncClient(base_url=address, timeout=30) as client:
        anonymous = await client.post("/v1/chat/completions", json=request)
        guessed = await client.post(
            "/v1/chat/completions", json=request, headers={"Authorization": "Bearer sk-guess"}
        )
        models = await client.get("/v1/models")

    assert (anonymous.status_code, guessed.status_code, models.status_code) == (401, 401, 401)


async def test_a_timeout_stops_the_generation(local: LocalProvider) -> None:
    slow = LocalProvider(LocalConfig(timeout=0.3, max_tokens=2000))
    engine = slow.engine("gpt-4o")
    assert engine is local.engine("gpt-4o")
    essay = [{"role": "user", "content": "Write a very long essay about the history of France."}]

    with pytest.raises(LLMError, match=r"did not answer within 0\.3 s"):
        await slow.complete(essay, model="gpt-4o")

    # Stopped at its next token, not after 2000 of them.
    deadline = time.monotonic() + 5
    while engine.running and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert engine.running == 0


async def test_a_prompt_larger_than_the_context_is_an_error(local: LocalProvider) -> None:
    huge = [{"role": "user", "content": "hello " * 9000}]

    with pytest.raises(LLMError, match="exceeds the available context size") as caught:
        await local.complete(huge, model="gpt-4o")

    assert caught.value.status == 400


async def test_an_unknown_response_format_is_refused(local: LocalProvider) -> None:
    with pytest.raises(LLMError, match="refused the request") as caught:
        await local.complete(FRANCE, model="gpt-4o", response_format={"type": "yaml"})

    assert caught.value.status == 400


async def test_images_are_refused_with_a_hint(local: LocalProvider) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}]

    with pytest.raises(LLMError, match="cannot read images; set OPENAI_API_KEY"):
        await local.complete(messages, model="gpt-4o")


async def test_flow_model_names_map_to_local_models(tmp_path: Path) -> None:
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("not a model")
    provider = LocalProvider(
        LocalConfig(
            model_map=(("gpt-4o", "better"), ("gpt-4o-mini", str(not_gguf))),
            models_dir=tmp_path,
        )
    )

    assert provider.model_for("gpt-3.5-turbo").label == "SmolLM2-135M-Instruct.Q4_1"
    with pytest.raises(LLMError, match="sutra models install better"):
        await provider.complete(FRANCE, model="gpt-4o")
    with pytest.raises(LLMError, match="is not a GGUF file"):
        await provider.complete(FRANCE, model="gpt-4o-mini")


async def test_a_damaged_model_file_is_a_clear_error(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(100))
    provider = LocalProvider(LocalConfig(model=str(damaged)))

    with pytest.raises(LLMError, match=r"could not load the local model damaged\.gguf") as caught:
        await provider.complete(FRANCE, model="gpt-4o")

    assert caught.value.status == 503


async def test_shutdown_stops_running_generations_and_later_calls_still_work(
    local: LocalProvider,
) -> None:
    long = LocalProvider(LocalConfig(max_tokens=2000))
    essay = [{"role": "user", "content": "Write a very long essay about the history of France."}]
    running = asyncio.create_task(long.complete(essay, model="gpt-4o"))
    engine = long.engine("gpt-4o")
    deadline = time.monotonic() + 30
    while not engine.running and time.monotonic() < deadline:
        await asyncio.sleep(0.02)

    started = time.monotonic()
    await asyncio.to_thread(local_provider.shutdown)

    assert time.monotonic() - started < 10
    with pytest.raises(LLMError, match="stopped before answering"):
        await running
    # A new engine loads the model again on demand.
    assert "Paris" in (await local.complete(FRANCE, model="gpt-4o")).text
