"""What a conversation leaves in the database: results, messages, contacts, webhook logs."""

from __future__ import annotations

from pathlib import Path

from sutra.engine.session import Input
from sutra.runtime.runner import Runner
from sutra.store import models as m
from sutra.testing.openai_server import OpenAIStubServer, Reply

from .helpers import EXAMPLES, converse, rows

QUESTION = "What is photosynthesis?"
ANSWER = "Plants make sugar from light."


async def test_gpt_conversation_is_stored(
    runner: Runner, database_url: str, openai_stub: OpenAIStubServer
) -> None:
    openai_stub.plan(Reply(ANSWER))

    chat = await converse(runner, EXAMPLES / "ask_gpt.json", QUESTION)

    assert chat.messages[-1] == ANSWER
    results = {row["key"]: row for row in rows(database_url, m.FlowResult)}
    assert set(results) == {"question", "gpt_response"}
    assert results["question"]["category"] == "All Responses"
    assert results["question"]["value"] == QUESTION
    assert results["question"]["input"] == QUESTION
    assert results["gpt_response"]["category"] == "Success"
    assert results["gpt_response"]["data"]["parsed_msg"] == ANSWER
    assert all(row["contact_id"] == chat.contact.id for row in results.values())

    messages = sorted(rows(database_url, m.Message), key=lambda row: row["id"])
    assert [(row["direction"], row["text"]) for row in messages] == [
        ("out", "Hi ! Ask me a question and I will ask GPT."),
        ("in", QUESTION),
        ("out", ANSWER),
    ]
    assert {row["channel"] for row in messages} == {"sim"}

    [log] = rows(database_url, m.WebhookLog)
    request = openai_stub.requests[0]
    words = sum(len(message["content"].split()) for message in request["messages"])
    assert log["prompt_tokens"] == words  # the stub counts words
    assert log["completion_tokens"] == len(ANSWER.split())
    assert log["llm_provider"] == "openai"
    assert log["llm_model"] == "gpt-4o"
    assert log["status_code"] == 200
    assert log["error"] is None
    assert log["response"]["parsed_msg"] == ANSWER
    assert log["duration_ms"] > 0

    [session] = rows(database_url, m.FlowSession)
    assert session["status"] == "completed"
    assert session["ended_at"] is not None


async def test_keyword_starts_the_flow(
    runner: Runner, database_url: str, openai_stub: OpenAIStubServer
) -> None:
    from sutra.flows import read_flow_file

    await runner.repo.import_flow_file(read_flow_file(EXAMPLES / "ask_gpt.json"))
    contact = await runner.repo.contact("sim:keyword", name="Meera")

    started = await runner.receive(contact, Input(text="  AskGPT "))
    answered = await runner.receive(contact, Input(text=QUESTION))

    assert started is not None and answered is not None
    assert [e.text for e in started.events if e.type == "msg_out"] == [
        "Hi Meera! Ask me a question and I will ask GPT."
    ]
    assert [e.text for e in answered.events if e.type == "msg_out"] == [f"echo: {QUESTION}"]
    assert answered.session is not None and answered.session.status == "completed"


async def test_survey_with_sub_flow_is_stored(
    runner: Runner, database_url: str, openai_stub: OpenAIStubServer, tmp_path: Path
) -> None:
    chat = await converse(
        runner, EXAMPLES / "survey_rapidpro.json", "I am 34", "3", "fever since yesterday"
    )

    assert chat.status == "completed"
    results = {(row["key"], row["category"]) for row in rows(database_url, m.FlowResult)}
    assert results == {("age", "Adult"), ("feeling", "Unwell"), ("symptom", "Fever")}
    # One run for the survey and one for its sub-flow, both finished.
    runs = rows(database_url, m.Run)
    assert len(runs) == 2
    assert {run["status"] for run in runs} == {"completed"}
    [contact] = rows(database_url, m.Contact)
    assert contact["fields"] == {"age_group": "Adult", "last_symptom": "Fever"}
    [group] = rows(database_url, m.Group)
    assert group["name"] == "Survey Respondents"
    [member] = rows(database_url, m.contact_groups)
    assert (member["contact_id"], member["group_id"]) == (contact["id"], group["id"])
    fields = {row["key"]: row["name"] for row in rows(database_url, m.ContactField)}
    assert fields == {"age_group": "Age Group", "last_symptom": "Last Symptom"}
    assert openai_stub.requests == []
