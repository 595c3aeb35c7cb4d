"""OpenAIProvider through the real ``openai`` SDK against the loopback stub server."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sutra.llm.base import LLMError
from sutra.llm.openai_provider import OpenAIProvider
from sutra.llm.select import get_provider
from sutra.testing.openai_server import EmptyChoices, ErrorReply, OpenAIStubServer, Refusal, Reply

KEY = "sk-test-0123456789abcdef"
HELLO = [{"role": "user", "content": "hello big world"}]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def stub(server: OpenAIStubServer) -> OpenAIStubServer:
    server.reset()
    server.delay = 0.0
    return server


@pytest.fixture
async def provider(stub: OpenAIStubServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(api_key=KEY, base_url=stub.base_url, timeout=5)
    yield provider
    await provider.aclose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_sends_chat_completion_with_fixed_sampling(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    completion = await provider.complete(HELLO, model="gpt-4o-mini")

    assert completion.text == "echo: hello big world"
    assert completion.finish_reason == "stop"
    assert completion.usage.provider == "openai"
    assert completion.usage.model == "gpt-4o-mini"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 4)
    assert completion.usage.latency_ms > 0
    [body] = stub.requests
    assert body == {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "temperature": 0.0,
        "top_p": 1,
        "frequency_penalty": 0,
        "presence_penalty": 0,
    }
    assert stub.headers[0]["authorization"] == f"Bearer {KEY}"


async def test_passes_response_format_and_max_tokens(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    completion = await provider.complete(
        HELLO,
        model="m",
        temperature=0.5,
        response_format={"type": "json_object"},
        max_tokens=50,
    )

    assert completion.text == '{"echo": "hello big world"}'
    [body] = stub.requests
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_completion_tokens"] == 50
    assert body["temperature"] == 0.5


async def test_reports_the_length_finish_reason(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(Reply("cut sho", finish_reason="length"))

    completion = await provider.complete(HELLO, model="m")

    assert (completion.text, completion.finish_reason) == ("cut sho", "length")


async def test_configured_by_the_sdk_environment_variables(
    stub: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    provider = OpenAIProvider()

    completion = await provider.complete(HELLO, model="m")

    assert completion.text == "echo: hello big world"
    assert stub.headers[0]["authorization"] == f"Bearer {KEY}"
    await provider.aclose()


async def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        await OpenAIProvider().complete(HELLO, model="m")


async def test_rate_limit_is_retried(stub: OpenAIStubServer, provider: OpenAIProvider) -> None:
    stub.plan(ErrorReply(429, "Rate limit reached", retry_after_ms=1), Reply("made it"))

    completion = await provider.complete(HELLO, model="m")

    assert completion.text == "made it"
    assert len(stub.requests) == 2


async def test_server_errors_give_up_after_two_retries(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(*[ErrorReply(500, "The server had an error", retry_after_ms=1)] * 4)

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert (caught.value.reason, caught.value.status) == ("The server had an error", 500)
    assert len(stub.requests) == 3


async def test_max_retries_zero_sends_once(stub: OpenAIStubServer) -> None:
    stub.plan(ErrorReply(503, "overloaded", retry_after_ms=1), Reply("too late"))
    provider = OpenAIProvider(api_key=KEY, base_url=stub.base_url, max_retries=0)

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert caught.value.status == 503
    assert len(stub.requests) == 1
    await provider.aclose()


async def test_timeout_is_a_clear_error(stub: OpenAIStubServer) -> None:
    stub.plan(Reply(delay=5))
    provider = OpenAIProvider(api_key=KEY, base_url=stub.base_url, timeout=0.2, max_retries=0)
    started = time.monotonic()

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert caught.value.reason == "the model did not answer within 0.2 s (1 attempt)"
    assert time.monotonic() - started < 2
    await provider.aclose()


async def test_timeout_is_retried(stub: OpenAIStubServer) -> None:
    stub.plan(Reply("slow", delay=5), Reply("fast"))
    provider = OpenAIProvider(api_key=KEY, base_url=stub.base_url, timeout=0.3)

    completion = await provider.complete(HELLO, model="m")

    assert completion.text == "fast"
    assert len(stub.requests) == 2
    await provider.aclose()


async def test_connection_error_is_a_clear_error() -> None:
    provider = OpenAIProvider(
        api_key=KEY, base_url=f"http://127.0.0.1:{_free_port()}/v1", max_retries=0
    )

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert caught.value.reason == "could not connect to the LLM API at 127.0.0.1 (1 attempt)"
    await provider.aclose()


async def test_client_error_reason_is_the_api_message(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(
        ErrorReply(400, "Invalid value for 'temperature'.", type="invalid_request_error"),
        Reply("must not be reached"),
    )

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert (caught.value.reason, caught.value.status) == ("Invalid value for 'temperature'.", 400)
    assert len(stub.requests) == 1


async def test_error_without_a_message_names_the_status(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(ErrorReply(404, ""))

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert (caught.value.reason, caught.value.status) == ("the LLM API answered HTTP 404", 404)


async def test_refusal_becomes_the_reason(stub: OpenAIStubServer, provider: OpenAIProvider) -> None:
    stub.plan(Refusal("I can't help with that request."))

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert caught.value.reason == "I can't help with that request."


async def test_empty_choices_is_an_error(stub: OpenAIStubServer, provider: OpenAIProvider) -> None:
    stub.plan(EmptyChoices())

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert caught.value.reason == "empty choices from the model"


@pytest.mark.parametrize(
    "message",
    [
        f"Incorrect API key provided: {KEY}.",
        f"Incorrect API key provided: {KEY[:8]}***{KEY[-4:]}.",
    ],
)
async def test_api_key_never_appears_in_a_reason(
    stub: OpenAIStubServer, provider: OpenAIProvider, message: str
) -> None:
    stub.plan(ErrorReply(401, message, type="invalid_request_error", code="invalid_api_key"))

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert caught.value.status == 401
    assert caught.value.reason.startswith("Incorrect API key provided: ")
    assert "sk-test" not in caught.value.reason
    assert KEY[-4:] not in caught.value.reason


async def test_wrong_key_is_rejected_by_the_stub(stub: OpenAIStubServer) -> None:
    provider = OpenAIProvider(api_key="sk-wrong-key", base_url=stub.base_url)

    with pytest.raises(LLMError) as caught:
        await provider.complete(HELLO, model="m")

    assert (caught.value.reason, caught.value.status) == ("Incorrect API key provided.", 401)
    await provider.aclose()


async def test_sequential_calls_reuse_one_connection(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    for _ in range(5):
        await provider.complete(HELLO, model="m")

    assert len({r.client_port for r in stub.received}) == 1


async def test_concurrent_calls_run_in_parallel(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.delay = 0.2
    started = time.monotonic()

    completions = await asyncio.gather(
        *(
            provider.complete([{"role": "user", "content": f"question {i}"}], model="m")
            for i in range(100)
        )
    )

    assert [c.text for c in completions] == [f"echo: question {i}" for i in range(100)]
    # One after another this would take 20 s.
    assert time.monotonic() - started < 5


def test_provider_works_across_event_loops(stub: OpenAIStubServer) -> None:
    # A cached provider outlives the loop of a CLI command or of a test.
    provider = OpenAIProvider(api_key=KEY, base_url=stub.base_url, max_retries=0)

    first = asyncio.run(provider.complete(HELLO, model="m"))
    second = asyncio.run(provider.complete(HELLO, model="m"))

    assert first.text == second.text == "echo: hello big world"


def test_get_provider_shares_one_provider_per_key(
    stub: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A platform key makes "auto" (the default) choose OpenAI; see tests/test_llm_local.py.
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    org = {"openai_api_key": KEY, "openai_base_url": stub.base_url}

    assert get_provider(org) is get_provider(dict(org))
    assert get_provider(org) is not get_provider({**org, "openai_api_key": "sk-other"})
    assert get_provider() is get_provider({})
    assert get_provider().name == "openai"


async def test_stub_rejects_a_request_without_model(stub: OpenAIStubServer) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stub.base_url}/chat/completions",
            json={"messages": HELLO},
            headers={"Authorization": f"Bearer {KEY}"},
        )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_stub_stops_without_waiting_for_delayed_answers() -> None:
    srv = OpenAIStubServer()
    await asyncio.to_thread(srv.start)
    srv.plan(Reply(delay=30))
    async with httpx.AsyncClient() as client:
        pending = asyncio.create_task(
            client.post(f"{srv.base_url}/chat/completions", json={"model": "m", "messages": HELLO})
        )
        while not srv.requests:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await asyncio.to_thread(srv.stop)
        stop_s = time.monotonic() - started
        response = await pending

    assert stop_s < 2
    assert response.status_code == 503


def test_stub_runs_as_a_module() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sutra.testing.openai_server", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        response = httpx.post(
            f"{base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert base_url == f"http://127.0.0.1:{port}/v1"
    assert response.json()["choices"][0]["message"]["content"] == "echo: hi"
