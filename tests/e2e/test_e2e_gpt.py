"""``sutra simulate`` with GPT steps: the real CLI and OpenAI SDK against the loopback stub."""

from __future__ import annotations

from pathlib import Path

from sutra.testing.openai_server import ErrorReply, OpenAIStubServer, Reply

from .helpers import API_KEY, EXAMPLES, gpt_flow, simulate, write_flow

ASK_GPT = EXAMPLES / "ask_gpt.json"
GPT_JSON = EXAMPLES / "gpt_json_definition.json"
ASK_GPT_PROMPT = (
    "You help people at an NGO helpline. Answer in less than 5 sentences, "
    "in the language of the question."
)


def test_ask_gpt_example_answers_with_the_model_reply(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    answer = "Photosynthesis is how plants turn light, water and CO2 into sugar."
    openai_stub.plan(Reply(answer))

    sim = simulate(ASK_GPT, "What is photosynthesis?", env=cli_env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert sim.messages == ["Hi ! Ask me a question and I will ask GPT.", answer]
    [request] = openai_stub.requests
    assert request["model"] == "gpt-4o"
    assert request["temperature"] == 0
    assert request["messages"] == [
        {"role": "system", "content": ASK_GPT_PROMPT},
        {"role": "user", "content": "What is photosynthesis?"},
    ]
    assert "response_format" not in request
    assert openai_stub.headers[0]["authorization"] == f"Bearer {API_KEY}"
    assert sim.status == "completed"
    results = sim.results
    assert results["question"]["value"] == "What is photosynthesis?"
    assert results["question"]["category"] == "All Responses"
    assert results["gpt_response"]["category"] == "Success"
    assert results["gpt_response"]["parsed_msg"] == answer
    [called] = sim.of_type("webhook_called")
    assert called["url"] == "parse_via_chat_gpt"
    assert called["success"] is True


def test_contact_name_is_used_in_the_greeting(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    sim = simulate(ASK_GPT, "Hello?", env=cli_env, cwd=tmp_path, extra=["--contact-name", "Asha"])

    assert sim.returncode == 0, sim.explain()
    assert sim.messages[0] == "Hi Asha! Ask me a question and I will ask GPT."
    # The stub's default answer echoes the question.
    assert sim.messages[1] == "echo: Hello?"


def test_json_reply_is_readable_key_by_key(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    openai_stub.plan(
        Reply.of_json({"city": "Pune", "country": "India", "fact": "It is known for its forts."})
    )

    sim = simulate(GPT_JSON, "Pune", env=cli_env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert sim.messages == [
        "Which city would you like to know about?",
        "Pune is in India. It is known for its forts.",
    ]
    [request] = openai_stub.requests
    assert request["response_format"] == {"type": "json_object"}
    assert request["model"] == "gpt-4o"
    assert request["messages"][-1] == {
        "role": "user",
        "content": "Tell me about the city of Pune.",
    }
    assert sim.results["city_facts"]["parsed_msg"]["country"] == "India"
    assert sim.status == "completed"


def test_json_example_failure_goes_by_webhook_status(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    # A 4xx is not retried; its message is the reason, for staff: the contact reads the
    # flow's own words.
    openai_stub.plan(ErrorReply(400, "Invalid model for JSON mode.", type="invalid_request_error"))

    sim = simulate(GPT_JSON, "Pune", env=cli_env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert sim.messages[-1] == "Sorry, I could not look that up right now. Please try again later."
    assert len(openai_stub.requests) == 1
    assert sim.results["city_facts"]["category"] == "Failure"
    assert sim.results["city_facts"]["error"] == "Invalid model for JSON mode."


TRICKY_INPUTS = [
    "@contact.name",
    "<%= 1 + 1 %>",
    "@(1 + 1)",
    "@results.question",
    "@contact",
    'say "hi" \\ {"a": 1}',
]


def test_what_a_contact_types_comes_back_literally(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    flow = write_flow(
        tmp_path,
        gpt_flow(
            {"question_text": "@results.question", "prompt": "Be brief."},
            echo="You said: @results.question",
            loop=True,
        ),
    )

    sim = simulate(
        flow, *TRICKY_INPUTS, env=cli_env, cwd=tmp_path, extra=["--contact-name", "Asha"]
    )

    assert sim.returncode == 0, sim.explain()
    expected = ["Ask me anything."]
    for text in TRICKY_INPUTS:
        expected += [f"You said: {text}", f"echo: {text}"]
    assert sim.messages == expected
    asked = [request["messages"][-1] for request in openai_stub.requests]
    assert asked == [{"role": "user", "content": text} for text in TRICKY_INPUTS]


def test_prompt_and_model_come_from_the_body(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    flow = write_flow(
        tmp_path,
        gpt_flow(
            {
                "question_text": "@results.question",
                "gpt_model": "gpt-4o-mini",
                "prompt": "You talk to @contact.name.",
                "temperature": "0.5",
            }
        ),
    )

    sim = simulate(flow, "hi", env=cli_env, cwd=tmp_path, extra=["--contact-name", "Ravi"])

    assert sim.returncode == 0, sim.explain()
    [request] = openai_stub.requests
    assert request["model"] == "gpt-4o-mini"
    assert request["temperature"] == 0.5
    assert request["messages"][0] == {"role": "system", "content": "You talk to Ravi."}


def test_transient_api_errors_are_retried(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    openai_stub.plan(
        ErrorReply(429, "Rate limit reached.", type="rate_limit_error", retry_after_ms=1),
        ErrorReply(503, "Overloaded.", retry_after_ms=1),
        Reply("Third time lucky."),
    )

    sim = simulate(ASK_GPT, "Are you there?", env=cli_env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert sim.messages[-1] == "Third time lucky."
    assert len(openai_stub.requests) == 3
    assert sim.results["gpt_response"]["category"] == "Success"


def test_slow_model_hits_the_function_timeout(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    openai_stub.plan(Reply("too late", delay=3))
    env = {**cli_env, "SUTRA_FUNCTION_TIMEOUT": "0.5"}

    sim = simulate(ASK_GPT, "Quick?", env=env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    reason = "function parse_via_chat_gpt took longer than 0.5 s"
    # The reason is for staff (results, webhook log); the contact reads the flow's own words.
    assert sim.messages[-1] == "Sorry, I could not get an answer right now. Please try again later."
    assert sim.results["gpt_response"]["error"] == reason
    assert sim.results["gpt_response"]["category"] == "Failure"


def test_missing_api_key_is_a_failure_with_a_hint(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    env = {key: value for key, value in cli_env.items() if key != "OPENAI_API_KEY"}
    # Forced: by default ("auto") no key means the embedded model (test_e2e_local_llm.py).
    env["SUTRA_LLM"] = "openai"

    sim = simulate(ASK_GPT, "Anyone there?", env=env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert "set OPENAI_API_KEY" in sim.results["gpt_response"]["error"]
    assert sim.results["gpt_response"]["category"] == "Failure"
    assert openai_stub.requests == []


def test_simulate_leaves_no_database_behind(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    sim = simulate(ASK_GPT, "Hi", env=cli_env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    # Neither the configured database nor ./sutra.db: a simulation uses a throwaway file.
    assert sorted(p.name for p in tmp_path.iterdir()) == []
