"""Questions answered from the health FAQ: the passages the model gets, the sources the answer
cites, "don't know" instead of a guess, vectors when a service is there and words when not,
versions, memory, usage and budgets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from sutra.assistants import models as am
from sutra.assistants.answer import ask
from sutra.assistants.indexing import add_document
from sutra.assistants.store import DEFAULT_DONT_KNOW, AssistantError, Assistants
from sutra.functions.filesearch import filesearch_gpt
from sutra.functions.registry import FunctionError, get_function
from sutra.llm.openai_provider import OpenAIProvider
from sutra.store import models as m
from sutra.testing.openai_server import OpenAIStubServer, Reply

from .conftest import ASSISTANT, FAQ_PDF_NAME, KEY, Faq, add_contact

MALARIA = "How is malaria spread?"
ANSWER = "Malaria spreads through the bite of infected female Anopheles mosquitoes [1]."


def system_prompt(stub: OpenAIStubServer, request: int = -1) -> str:
    content: str = stub.requests[request]["messages"][0]["content"]
    return content


async def usage_rows(faq: Faq) -> list[Any]:
    async with faq.assistants.db() as session:
        return list((await session.execute(select(m.LLMUsage))).scalars())


async def test_the_answer_comes_from_the_pdf_and_cites_document_and_page(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(Reply(ANSWER))

    answer = await ask(faq.call(provider), faq.assistants, faq.key, MALARIA, function="test")

    assert answer.knew
    assert answer.mode == "lexical"  # no key, no base URL: no vectors, words only
    assert answer.message == f"{ANSWER}\n\nSources:\n[1] {FAQ_PDF_NAME}, page 2"
    assert answer.passages[0].section == "Mosquito-borne diseases › How is malaria spread?"
    prompt = system_prompt(stub)
    assert prompt.startswith("You answer health questions for a community.")
    assert "cite the passage" in prompt.lower()
    assert f"[1] (from {FAQ_PDF_NAME}, page 2)\nMosquito-borne diseases › How is malaria" in prompt
    assert stub.requests[-1]["messages"][-1] == {"role": "user", "content": MALARIA}


async def test_a_question_the_documents_do_not_cover_gets_dont_know_and_no_model_call(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    answer = await ask(
        faq.call(provider), faq.assistants, faq.key, "What is the capital of France?", function="t"
    )

    assert not answer.knew
    assert answer.message == DEFAULT_DONT_KNOW
    assert answer.passages == []
    assert stub.requests == []


async def test_the_dont_know_text_is_the_versions_own(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    await faq.assistants.update(
        faq.key, dont_know="Please ask the health worker at the clinic.", make_live=True
    )

    answer = await ask(
        faq.call(provider), faq.assistants, faq.key, "Who won the 2022 world cup?", function="t"
    )

    assert answer.message == "Please ask the health worker at the clinic."


async def test_a_reply_without_citations_lists_the_passages_it_was_given(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(Reply("Use a mosquito net."))

    answer = await ask(
        faq.call(provider),
        faq.assistants,
        faq.key,
        "How can my family avoid malaria?",
        function="t",
    )

    assert answer.message.startswith("Use a mosquito net.\n\nSource")
    assert f"{FAQ_PDF_NAME}, page 2" in answer.message
    assert "[1]" not in answer.message


async def test_filesearch_gpt_returns_message_thread_and_assistant(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(Reply(ANSWER), Reply("Sleep under a treated net [1]."))
    spec = get_function("filesearch-gpt")
    assert spec is not None

    first = await spec.impl(
        faq.call(provider, question=MALARIA, assistant_id=ASSISTANT, remove_citation=True)
    )
    # The flow passes the thread on with an empty assistant_id (the acceptance flow does).
    second = await spec.impl(
        faq.call(
            provider,
            question="And how do we avoid it at home?",
            assistant_id="",
            thread_id=first["thread_id"],
            remove_citation=True,
        )
    )

    assert first["success"] is True and first["assistant_id"] == ASSISTANT
    # remove_citation: no [1] in the text, the source said in words.
    assert first["message"] == (
        "Malaria spreads through the bite of infected female Anopheles mosquitoes.\n\n"
        f"Source: {FAQ_PDF_NAME}, page 2"
    )
    assert second["thread_id"] == first["thread_id"]
    assert second["message"].startswith("Sleep under a treated net.")
    # The second question reached the model with the first turn before it.
    messages = stub.requests[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == MALARIA
    assert messages[2]["content"] == first["message"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"question": "", "assistant_id": ASSISTANT}, "question is empty"),
        ({"question": MALARIA, "assistant_id": "@results.x.id"}, "assistant_id is empty"),
        ({"question": MALARIA, "assistant_id": "asst_nobody"}, "no assistant asst_nobody"),
    ],
)
async def test_filesearch_gpt_fails_with_a_reason(
    faq: Faq, provider: OpenAIProvider, fields: dict[str, str], reason: str
) -> None:
    with pytest.raises(FunctionError, match=reason):
        await filesearch_gpt(faq.call(provider, **fields))


async def test_another_organisations_assistant_is_not_found(faq: Faq) -> None:
    async with faq.assistants.db.begin() as session:
        await session.execute(
            text("INSERT INTO organizations (id, name, settings) VALUES (2, 'Other', '{}')")
        )

    with pytest.raises(AssistantError, match=f"no assistant {ASSISTANT}"):
        await Assistants(faq.assistants.db, 2).get(ASSISTANT)


async def test_usage_is_counted_and_a_spent_budget_refuses_the_question(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    stub.plan(Reply(ANSWER))
    await filesearch_gpt(faq.call(provider, question=MALARIA, assistant_id=ASSISTANT))

    [row] = await usage_rows(faq)
    assert (row.function, row.contact_id, row.flow_uuid) == ("filesearch-gpt", 1, "flow-1")
    assert row.prompt_tokens > 100  # the passages went with the question

    capped = faq.call(provider, question=MALARIA, assistant_id=ASSISTANT)
    capped.services.settings["llm_contact_daily_tokens"] = 10
    with pytest.raises(FunctionError, match="budget exceeded"):
        await filesearch_gpt(capped)
    assert len(stub.requests) == 1


async def test_a_new_version_is_used_only_once_it_is_live(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    updated = await faq.assistants.update(faq.key, instructions="Answer in one short sentence.")
    assert updated.versions == 2 and updated.live is not None and updated.live.number == 1

    await ask(faq.call(provider), faq.assistants, faq.key, MALARIA, function="t")
    await ask(faq.call(provider), faq.assistants, faq.key, MALARIA, function="t", version=2)
    await faq.assistants.make_live(faq.key, 2)
    await ask(faq.call(provider), faq.assistants, faq.key, MALARIA, function="t")

    prompts = [system_prompt(stub, i) for i in range(3)]
    assert prompts[0].startswith("You answer health questions")
    assert prompts[1].startswith("Answer in one short sentence.")
    assert prompts[2].startswith("Answer in one short sentence.")


async def test_a_deleted_document_is_no_longer_searched(
    faq: Faq, stub: OpenAIStubServer, provider: OpenAIProvider
) -> None:
    [document] = await faq.assistants.documents(faq.key)
    assert document.chunks > 20

    await faq.assistants.delete_document(faq.key, document.id)

    answer = await ask(faq.call(provider), faq.assistants, faq.key, MALARIA, function="t")
    assert not answer.knew
    async with faq.assistants.db() as session:
        assert await session.scalar(text("SELECT count(*) FROM chunks")) == 0
        if session.get_bind().dialect.name == "sqlite":
            # The FTS5 table forgot the passages too (its trigger ran on the cascade).
            left = await session.scalar(
                text("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'malaria'")
            )
            assert left == 0


async def test_with_an_embedding_service_passages_and_questions_get_vectors(
    embeddings_env: OpenAIStubServer, faq: Faq, provider: OpenAIProvider
) -> None:
    stub = embeddings_env
    stub.plan(Reply(ANSWER))
    [document] = await faq.assistants.documents(faq.key)

    answer = await ask(faq.call(provider), faq.assistants, faq.key, MALARIA, function="t")

    assert document.vectors and document.embedding_error is None
    assert answer.mode == "hybrid"
    assert answer.passages[0].section.endswith("How is malaria spread?")
    assert answer.passages[0].similarity is not None and answer.passages[0].coverage is not None
    rows = await usage_rows(faq)
    # Indexing (staff's, no contact) and the question's vector and answer (the contact's).
    assert [(r.function, r.contact_id) for r in rows] == [
        ("assistant:index", None),
        ("t", 1),
        ("t", 1),
    ]
    assert rows[0].model == "text-embedding-3-small" and rows[0].prompt_tokens > 1000


async def test_when_the_embedding_service_fails_the_words_still_find_the_answer(
    embeddings_env: OpenAIStubServer,
    assistants: Assistants,
    faq_pdf: bytes,
    provider: OpenAIProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key")
    await assistants.create("FAQ", key="asst_faq")
    await add_contact(assistants.db)

    document = await add_document(assistants, "asst_faq", FAQ_PDF_NAME, faq_pdf)

    assert not document.vectors
    assert document.embedding_error == "embeddings failed: HTTP 401"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    embeddings_env.plan(Reply(ANSWER))
    call = Faq(assistants, "asst_faq", faq_pdf).call(provider)
    answer = await ask(call, assistants, "asst_faq", MALARIA, function="t")
    assert answer.knew and answer.passages[0].similarity is None


async def test_document_rows_keep_name_type_size_and_pages(faq: Faq) -> None:
    async with faq.assistants.db() as session:
        [document] = (await session.execute(select(am.Document))).scalars()
    assert (document.name, document.media_type, document.size) == (
        FAQ_PDF_NAME,
        "application/pdf",
        len(faq.pdf),
    )
    assert document.pages is not None and document.pages >= 3
