"""parse_via_chat_gpt, check_response and get_buttons as a flow calls them (by name)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sutra.functions.registry import FunctionCall, FunctionError, all_functions, get_function
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.testing.openai_server import EmptyChoices, ErrorReply, OpenAIStubServer, Refusal, Reply

KEY = "sk-test-0123456789abcdef"
QUESTION = "What is the capital of India?"


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def stub(server: OpenAIStubServer) -> OpenAIStubServer:
    server.reset()
    return server


@pytest.fixture
async def provider(stub: OpenAIStubServer) -> AsyncIterator[OpenAIProvider]:
    # A short timeout keeps the timeout test fast; retries stay at the production default.
    provider = OpenAIProvider(api_key=KEY, base_url=stub.base_url, timeout=0.3)
    yield provider
    await provider.aclose()


async def run(name: str, fields: dict[str, Any], services: Services) -> dict[str, Any]:
    spec = get_function(name)
    assert spec is not None, f"{name} is not registered"
    return await spec.impl(FunctionCall(fields=fields, services=services))


async def ask(provider: OpenAIProvider, **fields: Any) -> dict[str, Any]:
    return await run("parse_via_chat_gpt", fields, Services(llm=provider))


async def ask_failure(provider: OpenAIProvider, **fields: Any) -> FunctionError:
    with pytest.raises(FunctionError) as caught:
        await ask(provider, **fields)
    return caught.value


def test_builtins_are_registered_with_their_editor_template() -> None:
    names = {spec.name for spec in all_functions()}
    assert {"parse_via_chat_gpt", "check_response", "get_buttons"} <= names
    spec = get_function("parse_via_chat_gpt")
    assert spec is not None
    assert spec.body_template == {"question_text": "", "gpt_model": "", "prompt": ""}
    assert spec.response_example["success"] is True


async def test_request_has_prompt_question_model_and_sampling(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    result = await ask(
        provider, question_text=QUESTION, gpt_model="gpt-4o-mini", prompt="Answer briefly."
    )

    assert result == {"success": True, "parsed_msg": f"echo: {QUESTION}"}
    [body] = stub.requests
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": QUESTION},
        ],
        "temperature": 0.0,
        "top_p": 1,
        "frequency_penalty": 0,
        "presence_penalty": 0,
    }


@pytest.mark.parametrize(
    ("fields", "model"),
    [
        ({"model": "gpt-4.1", "gpt_model": "gpt-4o-mini"}, "gpt-4.1"),
        ({"gpt_model": "gpt-4o-mini"}, "gpt-4o-mini"),
        ({"model": "", "gpt_model": ""}, "gpt-4o"),
        ({}, "gpt-4o"),
    ],
)
async def test_model_comes_from_model_then_gpt_model(
    stub: OpenAIStubServer, provider: OpenAIProvider, fields: dict[str, str], model: str
) -> None:
    await ask(provider, question_text=QUESTION, **fields)

    assert stub.requests[0]["model"] == model


async def test_without_prompt_no_system_message_is_sent(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    await ask(provider, question_text=QUESTION)

    assert stub.requests[0]["messages"] == [{"role": "user", "content": QUESTION}]


async def test_an_empty_prompt_is_still_sent(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    await ask(provider, question_text=QUESTION, prompt="")

    assert stub.requests[0]["messages"][0] == {"role": "system", "content": ""}


@pytest.mark.parametrize(("given", "sent"), [("0.7", 0.7), (1, 1.0), ("", 0.0)])
async def test_temperature_accepts_numbers_and_numeric_text(
    stub: OpenAIStubServer, provider: OpenAIProvider, given: Any, sent: float
) -> None:
    await ask(provider, question_text=QUESTION, temperature=given)

    assert stub.requests[0]["temperature"] == sent


@pytest.mark.parametrize("given", ["warm", True, [1]])
async def test_temperature_must_be_a_number(
    stub: OpenAIStubServer, provider: OpenAIProvider, given: Any
) -> None:
    error = await ask_failure(provider, question_text=QUESTION, temperature=given)

    assert error.reason == "temperature should be a number"
    assert stub.requests == []


@pytest.mark.parametrize("response_format", [{"type": "json_object"}, '{"type": "json_object"}'])
async def test_response_format_is_passed_and_the_reply_decoded(
    stub: OpenAIStubServer, provider: OpenAIProvider, response_format: Any
) -> None:
    result = await ask(
        provider, question_text=QUESTION, prompt="Reply in JSON.", response_format=response_format
    )

    assert stub.requests[0]["response_format"] == {"type": "json_object"}
    assert result["parsed_msg"] == {"echo": QUESTION}


async def test_json_schema_response_format_is_passed_whole(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "strict": True,
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    stub.plan(Reply.of_json({"city": "New Delhi"}))

    result = await ask(
        provider, question_text=QUESTION, gpt_model="gpt-4o-mini", response_format=response_format
    )

    assert result["parsed_msg"] == {"city": "New Delhi"}
    assert stub.requests[0]["response_format"] == response_format
    # Glific swaps in a fixed model for json_schema; Sutra keeps the one asked for.
    assert stub.requests[0]["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    "response_format",
    [{"type": "text"}, {"json_schema": {}}, '{"type": "xml"}', "json", 42],
)
async def test_other_response_formats_are_refused(
    stub: OpenAIStubServer, provider: OpenAIProvider, response_format: Any
) -> None:
    error = await ask_failure(provider, question_text=QUESTION, response_format=response_format)

    assert error.reason == "response_format type should be json_schema or json_object"
    assert stub.requests == []


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [
        ('{"answer": "yes", "score": 3}', {"answer": "yes", "score": 3}),
        ('  ["a", "b"]\n', ["a", "b"]),
        ("New Delhi", "New Delhi"),
        ("42", "42"),
        ('{"unfinished": ', '{"unfinished": '),
    ],
)
async def test_reply_is_decoded_only_when_it_is_a_json_object_or_array(
    stub: OpenAIStubServer, provider: OpenAIProvider, reply: str, parsed: Any
) -> None:
    stub.plan(Reply(reply))

    result = await ask(provider, question_text=QUESTION)

    assert result == {"success": True, "parsed_msg": parsed}


@pytest.mark.parametrize("fields", [{}, {"question_text": ""}, {"question_text": "  \n"}])
async def test_empty_question_is_an_error(
    stub: OpenAIStubServer, provider: OpenAIProvider, fields: dict[str, str]
) -> None:
    error = await ask_failure(provider, **fields)

    assert error.reason == "question_text is empty"
    assert stub.requests == []


async def test_usage_is_recorded_on_the_call(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    call = FunctionCall(
        fields={"question_text": "two words", "prompt": "be brief", "gpt_model": "gpt-4o-mini"},
        services=Services(llm=provider),
    )
    spec = get_function("parse_via_chat_gpt")
    assert spec is not None

    await spec.impl(call)

    [usage] = call.usage
    assert (usage.provider, usage.model) == ("openai", "gpt-4o-mini")
    # The stub counts words: "be brief" + "two words" in, "echo: two words" out.
    assert (usage.prompt_tokens, usage.completion_tokens) == (4, 3)
    assert usage.latency_ms > 0


async def test_rate_limit_is_retried(stub: OpenAIStubServer, provider: OpenAIProvider) -> None:
    stub.plan(ErrorReply(429, "Rate limit reached", retry_after_ms=1), Reply("made it"))

    result = await ask(provider, question_text=QUESTION)

    assert result == {"success": True, "parsed_msg": "made it"}
    assert len(stub.requests) == 2


async def test_server_error_fails_after_three_attempts(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(*[ErrorReply(500, "The server had an error", retry_after_ms=1)] * 3)

    error = await ask_failure(provider, question_text=QUESTION)

    assert (error.reason, error.status) == ("The server had an error", 500)
    assert len(stub.requests) == 3


async def test_timeout_fails_with_a_clear_reason(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(*[ErrorReply(500, "busy", retry_after_ms=1)] * 2, Reply("too late", delay=5))

    error = await ask_failure(provider, question_text=QUESTION)

    assert error.reason == "the model did not answer within 0.3 s (3 attempts)"
    assert len(stub.requests) == 3


async def test_client_error_reason_is_the_api_message(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(ErrorReply(400, "The model `gpt-5o` does not exist.", code="model_not_found"))

    error = await ask_failure(provider, question_text=QUESTION, model="gpt-5o")

    assert (error.reason, error.status) == ("The model `gpt-5o` does not exist.", 400)
    assert len(stub.requests) == 1


async def test_refusal_text_is_the_reason(stub: OpenAIStubServer, provider: OpenAIProvider) -> None:
    stub.plan(Refusal("I can't help with that."))

    error = await ask_failure(provider, question_text=QUESTION)

    assert error.reason == "I can't help with that."


async def test_empty_choices_is_an_error(stub: OpenAIStubServer, provider: OpenAIProvider) -> None:
    stub.plan(EmptyChoices())

    error = await ask_failure(provider, question_text=QUESTION)

    assert error.reason == "empty choices from the model"


async def test_api_key_never_appears_in_the_reason(
    stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(ErrorReply(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key"))

    error = await ask_failure(provider, question_text=QUESTION)

    assert error.status == 401
    assert KEY not in error.reason
    assert "sk-test" not in error.reason


async def test_without_a_provider_the_organisation_settings_choose_one(
    stub: OpenAIStubServer,
) -> None:
    settings = {"openai_api_key": KEY, "openai_base_url": stub.base_url}

    result = await run(
        "parse_via_chat_gpt", {"question_text": QUESTION}, Services(settings=settings)
    )

    assert result == {"success": True, "parsed_msg": f"echo: {QUESTION}"}
    assert stub.headers[0]["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("correct", "given", "expected"),
    [
        ("New Delhi", " new delhi ", True),
        ("A", "a", True),
        ("New Delhi", "Mumbai", False),
        ("4", 4, True),
        ("yes", None, False),
    ],
)
async def test_check_response(correct: str, given: Any, expected: bool) -> None:
    fields = {"correct_response": correct, "user_response": given}

    assert await run("check_response", fields, Services()) == {"response": expected}


async def test_check_response_needs_the_correct_response() -> None:
    with pytest.raises(FunctionError, match="correct_response is missing"):
        await run("check_response", {"user_response": "a"}, Services())


@pytest.mark.parametrize(
    ("data", "buttons", "valid"),
    [
        ("Yes|No|Maybe", {"button_1": "Yes", "button_2": "No", "button_3": "Maybe"}, True),
        ("Yes | No |", {"button_1": "Yes", "button_2": "No"}, True),
        ("a|b|c|d", {"button_1": "a", "button_2": "b", "button_3": "c", "button_4": "d"}, False),
        ("Twenty one characters|b", {"button_1": "Twenty one characters", "button_2": "b"}, False),
        ("Exactly twenty chars", {"button_1": "Exactly twenty chars"}, True),
        ("", {}, False),
    ],
)
async def test_get_buttons(data: str, buttons: dict[str, str], valid: bool) -> None:
    result = await run("get_buttons", {"buttons_data": data}, Services())

    assert result == {"buttons": buttons, "button_count": len(buttons), "is_valid": valid}


async def test_get_buttons_needs_buttons_data() -> None:
    with pytest.raises(FunctionError, match="buttons_data is missing"):
        await run("get_buttons", {}, Services())
