"""An assistant's version as an evaluation target: answered from its documents."""

from __future__ import annotations

import pytest

from sutra.testing.openai_server import OpenAIStubServer

from .conftest import Bot, Evals, csv_of
from .test_evals_api import finished, golden

DOCUMENT = (
    "# Fever in children\n\n"
    "A child with a fever should drink plenty of fluids and rest. Paracetamol lowers the "
    "fever. See a health worker when the fever lasts more than two days.\n"
)
QUESTION = "What should a child with a fever drink?"

# The assistant target exists only with the assistants package.
pytest.importorskip("sutra.assistants.answer")


async def test_an_assistant_version_answers_from_its_documents(
    evals: Evals, stub: OpenAIStubServer, llm_env: Bot
) -> None:
    from sutra.assistants.indexing import add_document
    from sutra.assistants.store import Assistants

    assistants = Assistants(evals.state.repo.sessions, evals.state.repo.org)
    await assistants.create(
        "Health helper", key="health", instructions="Answer parents kindly.", model="gpt-4o-mini"
    )
    await add_document(assistants, "health", "fever.md", DOCUMENT.encode())
    golden_id = await golden(evals, csv_of([(QUESTION, "Plenty of fluids, and rest.", "fever")]))

    run = await evals.api(
        "POST",
        "/runs",
        json={
            "golden_set_id": golden_id,
            "target": {"kind": "assistant", "key": "health"},
            "options": {"judge": "off"},
        },
    )
    done = await finished(evals, run["id"])

    assert done["status"] == "completed", done
    assert run["target_label"] == "assistant Health helper v1 (gpt-4o-mini)"
    asked = [r for r in stub.requests if r["messages"][-1]["content"] == QUESTION]
    assert len(asked) == 1
    # The model got the assistant's instructions and the document's passage.
    system = asked[0]["messages"][0]["content"]
    assert system.startswith("Answer parents kindly.") and "plenty of fluids" in system
    answers = (await evals.api("GET", f"/runs/{run['id']}/results"))["questions"][0]["answers"]
    assert answers[0]["answer"].startswith(f"echo: {QUESTION}")
    assert "Source: fever.md" in answers[0]["answer"]
    assert answers[0]["prompt_tokens"] > 0
