"""``filesearch-gpt``: a question answered from an assistant's documents (Glific's file search).

Body: ``question``, ``assistant_id`` (the assistant's key, ``asst_…``), optionally
``thread_id`` and ``remove_citation``. Result: ``message`` (the answer with its sources),
``thread_id`` (pass it to the next call to keep the conversation), ``assistant_id``.

Every answer is remembered in a thread, as OpenAI's threads were: a call without a thread id
starts one. The ids Sutra issues name their assistant, because Glific flows pass the thread on
with an empty ``assistant_id`` (the acceptance flow's second question does).
"""

from __future__ import annotations

import uuid
from typing import Any

from sutra.config import get_settings
from sutra.functions.llmcall import Caller
from sutra.functions.registry import FunctionCall, FunctionError, function
from sutra.llm.memory import Memory

FUNCTION = "filesearch-gpt"
_THREAD_MARK = ":thread-"


def new_thread_id(assistant_key: str) -> str:
    return f"{assistant_key}{_THREAD_MARK}{uuid.uuid4().hex}"


def assistant_of_thread(thread_id: str) -> str | None:
    """The assistant a thread id issued by Sutra names, else None.

    >>> assistant_of_thread("asst_abc:thread-0f1e"), assistant_of_thread("contact-4")
    ('asst_abc', None)
    """
    key, mark, rest = thread_id.rpartition(_THREAD_MARK)
    return key if mark and key and rest else None


def given(value: Any) -> str:
    """A body field as text; a variable left unresolved (``@results.x.thread_id`` before the
    result exists) is no value."""
    text = str(value or "").strip()
    return "" if text.startswith("@") else text


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "on")
    return bool(value)


@function(
    FUNCTION,
    body={"question": "", "assistant_id": "", "thread_id": "", "remove_citation": True},
    example={
        "success": True,
        "message": "Malaria spreads through the bite of infected mosquitoes.\n\n"
        "Source: health-faq.pdf, page 2",
        "thread_id": "asst_…:thread-…",
        "assistant_id": "asst_…",
    },
)
async def filesearch_gpt(call: FunctionCall) -> dict[str, Any]:
    """Answer ``question`` from the documents of assistant ``assistant_id``, citing them.

    When the documents do not cover the question the answer is the assistant's "don't know"
    text, and the model is not asked.
    """
    question = given(call.fields.get("question"))
    if not question:
        raise FunctionError("question is empty", status=400)
    return await answer_from_documents(call, question, function=FUNCTION)


async def answer_from_documents(
    call: FunctionCall, question: str, *, function: str
) -> dict[str, Any]:
    """The assistant's answer to ``question`` with ``message``, ``thread_id`` and
    ``assistant_id``: the fields ``assistant_id``, ``thread_id`` and ``remove_citation`` of the
    call say which assistant and conversation (the voice file search shares them)."""
    # Deferred: loading the registry must not load numpy and the retrieval code.
    from sutra.assistants.answer import ask
    from sutra.assistants.store import AssistantError, Assistants

    thread_id = given(call.fields.get("thread_id"))
    key = given(call.fields.get("assistant_id")) or assistant_of_thread(thread_id) or ""
    if not key:
        raise FunctionError("assistant_id is empty", status=400)
    caller = Caller.of(call)
    db = call.services.db
    if db is None or caller.organization_id is None:
        raise FunctionError(f"{function} needs a database and an organization_id")
    config = get_settings()
    memory = Memory(db, max_turns=config.llm_memory_turns, max_tokens=config.llm_memory_tokens)
    thread_id = thread_id or new_thread_id(key)
    thread = memory.thread(
        organization_id=caller.organization_id, contact_id=caller.contact_id, thread_id=thread_id
    )
    try:
        answer = await ask(
            call,
            Assistants(db, caller.organization_id),
            key,
            question,
            function=function,
            thread=thread,
            remove_citation=_truthy(call.fields.get("remove_citation")),
        )
    except AssistantError as exc:
        raise FunctionError(exc.reason, status=exc.status) from None
    return {
        "success": True,
        "message": answer.message,
        "thread_id": thread_id,
        "assistant_id": key,
    }
