"""GPT steps that fail: the Failure branch, the reason in ``@results.NAME.error`` and in the
webhook log, and the API key nowhere in the database or the logs.

These run through the Python API (what ``sutra simulate`` does) so the test can read the
database and the captured logs afterwards.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sutra.runtime.runner import Runner
from sutra.store import models as m
from sutra.testing.openai_server import ErrorReply, OpenAIStubServer, Refusal

from .conftest import HttpReply, WebhookServer
from .helpers import (
    API_KEY,
    EXAMPLES,
    add_global,
    converse,
    dump_database,
    gpt_flow,
    rows,
    webhook_flow,
    write_flow,
)

QUESTION = "What is photosynthesis?"
DATABASE_TRACING = ("aiosqlite", "sqlalchemy.engine")


@pytest.fixture(autouse=True)
def _capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    # DEBUG for every logger, the OpenAI SDK's and httpx's included.
    caplog.set_level(logging.DEBUG)


def assert_no_secret(database_url: str, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    # Globals hold secrets on purpose; everything a flow run wrote must not.
    stored = dump_database(database_url, exclude=["globals"])
    # The database driver's DEBUG tracing prints SQL parameters, i.e. whatever is stored (a
    # session waiting on a webhook keeps its request, to redo it after a restart): not a log
    # Sutra writes. Every other logger is searched, the OpenAI SDK's and httpx's included.
    logged = "\n".join(
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if not record.name.startswith(DATABASE_TRACING)
    )
    for secret in (API_KEY, *secrets):
        assert secret not in stored, "a secret was stored in the database"
        assert secret not in logged, "a secret was logged"


def the_log(database_url: str) -> Any:
    [log] = rows(database_url, m.WebhookLog)
    return log


async def test_api_failure_after_retries(
    runner: Runner,
    database_url: str,
    tmp_path: Path,
    openai_stub: OpenAIStubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    openai_stub.plan(*[ErrorReply(500, "The server had an error.", retry_after_ms=1)] * 3)

    chat = await converse(runner, EXAMPLES / "ask_gpt.json", QUESTION)

    assert len(openai_stub.requests) == 3  # the first try and two retries
    # The provider's words are for staff: the contact reads the flow's Failure message.
    assert chat.messages[-1] == (
        "Sorry, I could not get an answer right now. Please try again later."
    )
    assert chat.results["gpt_response"]["category"] == "Failure"
    assert chat.results["gpt_response"]["error"] == "The server had an error."
    assert chat.status == "completed"
    log = the_log(database_url)
    assert log["method"] == "FUNCTION"
    assert log["url"] == "parse_via_chat_gpt"
    assert log["status_code"] == 500
    assert log["error"] == "The server had an error."
    assert log["request"]["body"]["question_text"] == QUESTION
    assert "The server had an error." in caplog.text
    assert_no_secret(database_url, caplog)


async def test_refusal_is_the_reason(
    runner: Runner,
    database_url: str,
    openai_stub: OpenAIStubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    openai_stub.plan(Refusal("I can't help with that."))

    chat = await converse(runner, EXAMPLES / "ask_gpt.json", QUESTION)

    assert chat.results["gpt_response"]["error"] == "I can't help with that."
    assert (
        chat.messages[-1] == "Sorry, I could not get an answer right now. Please try again later."
    )
    assert the_log(database_url)["error"] == "I can't help with that."
    assert_no_secret(database_url, caplog)


# (body of the call_webhook action, function name, the reason, the logged status)
BROKEN_CALLS = {
    "empty question": (
        json.dumps({"question_text": "", "prompt": "Answer briefly."}),
        "parse_via_chat_gpt",
        "question_text is empty",
        500,
    ),
    "question of spaces": (
        json.dumps({"question_text": "   ", "prompt": "Answer briefly."}),
        "parse_via_chat_gpt",
        "question_text is empty",
        500,
    ),
    "bad response_format": (
        json.dumps({"question_text": "Hi", "response_format": {"type": "text"}}),
        "parse_via_chat_gpt",
        "response_format type should be json_schema or json_object",
        500,
    ),
    "body not JSON": (
        '{\n "question_text": "@results.question",\n "prompt": "oops"\n',
        "parse_via_chat_gpt",
        "body is not valid JSON: Expecting ',' delimiter at line 4 column 1",
        400,
    ),
    "unknown function": (
        json.dumps({"question_text": "Hi"}),
        "parse_via_chat_gtp",
        "unknown function parse_via_chat_gtp",
        404,
    ),
}


@pytest.mark.parametrize("router", ["category", "status"])
@pytest.mark.parametrize("case", list(BROKEN_CALLS))
async def test_broken_call_takes_failure_with_its_reason(
    case: str,
    router: str,
    runner: Runner,
    database_url: str,
    tmp_path: Path,
    openai_stub: OpenAIStubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body, function, reason, status = BROKEN_CALLS[case]
    flow = write_flow(tmp_path, gpt_flow(body, function=function, router=router))

    chat = await converse(runner, flow, QUESTION)

    assert chat.messages == ["Ask me anything.", f"Sorry, that failed: {reason}"]
    assert chat.results["gpt_response"]["category"] == "Failure"
    assert chat.results["gpt_response"]["success"] is False
    assert chat.results["gpt_response"]["error"] == reason
    assert openai_stub.requests == []  # nothing was sent to the model
    log = the_log(database_url)
    assert log["error"] == reason
    assert log["status_code"] == status
    assert log["result_name"] == "gpt_response"
    # The runtime's own log line names the call and the reason.
    assert any(
        reason in record.getMessage() and record.name.startswith("sutra")
        for record in caplog.records
    ), caplog.text
    assert_no_secret(database_url, caplog)


async def test_secret_headers_of_http_webhooks_are_redacted(
    runner: Runner,
    database_url: str,
    tmp_path: Path,
    webhook_server: WebhookServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "tok-e2e-9f8e7d6c5b4a-SECRET"
    add_global(database_url, "api_token", token)
    webhook_server.plan(HttpReply(body={"score": 3}))
    flow = webhook_flow(
        method="POST",
        url=f"{webhook_server.base_url}/score",
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer @global.api_token",
            "X-Api-Key": "@global.api_token",
            "X-Trace": "visible",
        },
        body={"text": "@results.question"},
        success="Score @results.hook.score",
    )

    chat = await converse(runner, write_flow(tmp_path, flow), "hello")

    assert chat.messages[-1] == "Score 3"
    [received] = webhook_server.requests
    assert received.headers["authorization"] == f"Bearer {token}"  # the endpoint got it
    log = the_log(database_url)
    assert log["request"]["headers"]["Authorization"] == "[redacted]"
    assert log["request"]["headers"]["X-Api-Key"] == "[redacted]"
    assert log["request"]["headers"]["X-Trace"] == "visible"
    assert_no_secret(database_url, caplog, token)


async def test_api_key_echoed_by_the_api_is_masked(
    runner: Runner,
    database_url: str,
    openai_stub: OpenAIStubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Some OpenAI-compatible servers quote the key they were given in a 401.
    openai_stub.plan(
        ErrorReply(
            401,
            f"Incorrect API key provided: {API_KEY}.",
            type="invalid_request_error",
            code="invalid_api_key",
        )
    )

    chat = await converse(runner, EXAMPLES / "ask_gpt.json", QUESTION)

    assert len(openai_stub.requests) == 1  # a 401 is not retried
    error = chat.results["gpt_response"]["error"]
    assert error.startswith("Incorrect API key provided: ")
    assert API_KEY not in error
    assert API_KEY not in chat.messages[-1]
    log = the_log(database_url)
    assert log["status_code"] == 401
    assert log["error"] == error
    assert_no_secret(database_url, caplog)
