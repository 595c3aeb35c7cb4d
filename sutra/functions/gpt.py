"""``parse_via_chat_gpt``: ask a chat model one question from a flow (contract section 6)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sutra.config import get_settings
from sutra.functions.llmcall import Caller, complete
from sutra.functions.registry import FunctionCall, FunctionError, function
from sutra.llm.memory import Memory, Thread, default_thread

DEFAULT_MODEL = "gpt-4o"
RESPONSE_FORMAT_TYPES = ("json_object", "json_schema")


@function(
    "parse_via_chat_gpt",
    body={"question_text": "", "gpt_model": "", "prompt": ""},
    example={"success": True, "parsed_msg": "The capital of India is New Delhi."},
)
async def parse_via_chat_gpt(call: FunctionCall) -> dict[str, Any]:
    """Send ``question_text`` (with ``prompt`` as the system message) to a chat model.

    The reply is stored as ``parsed_msg``; a reply that is a JSON object or array is decoded, so a
    flow can read ``@results.NAME.parsed_msg.key``. With ``thread_id`` (or ``memory: true``, the
    contact's own thread) the model also gets the thread's previous turns, and the result carries
    ``thread_id`` for the flow to pass on.
    """
    fields = call.fields
    question = fields.get("question_text")
    if question is None or not str(question).strip():
        raise FunctionError("question_text is empty")
    question = str(question)

    model = str(fields.get("model") or fields.get("gpt_model") or DEFAULT_MODEL).strip()
    temperature = parse_temperature(fields.get("temperature"))
    response_format = parse_response_format(fields.get("response_format"))
    thread = _thread(call)

    messages: list[dict[str, Any]] = []
    prompt = fields.get("prompt")
    if prompt is not None:
        messages.append({"role": "system", "content": str(prompt)})
    if thread is not None:
        messages += await thread.history()
    messages.append({"role": "user", "content": question})

    completion = await complete(
        call,
        messages,
        function="parse_via_chat_gpt",
        model=model,
        temperature=temperature,
        response_format=response_format,
    )
    result: dict[str, Any] = {"success": True, "parsed_msg": decode_reply(completion.text)}
    if thread is not None:
        await thread.append(question, completion.text)
        result["thread_id"] = thread.thread_id
    return result


def _thread(call: FunctionCall) -> Thread | None:
    """The thread to remember in: the flow's ``thread_id``, else with ``memory: true`` the
    contact's own thread (a fresh one when there is no contact), else none."""
    caller = Caller.of(call)
    given = str(call.fields.get("thread_id") or "").strip()
    # The first call of a flow that passes on ``@results.NAME.thread_id`` has no such result yet,
    # and templates leave what does not resolve as written: that is no thread id.
    if given and not given.startswith("@"):
        thread_id = given
    elif _truthy(call.fields.get("memory")):
        thread_id = default_thread(caller.contact_id) or f"thread-{uuid.uuid4()}"
    else:
        return None
    if call.services.db is None or caller.organization_id is None:
        raise FunctionError("conversation memory needs a database and an organization_id")
    config = get_settings()
    memory = Memory(
        call.services.db, max_turns=config.llm_memory_turns, max_tokens=config.llm_memory_tokens
    )
    return memory.thread(
        organization_id=caller.organization_id, contact_id=caller.contact_id, thread_id=thread_id
    )


def _truthy(value: Any) -> bool:
    """A flag from a templated body, where ``true`` may arrive as text.

    >>> [_truthy(v) for v in (True, "true", "Yes", "1", 1, None, "", "false", 0)]
    [True, True, True, True, True, False, False, False, False]
    """
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "on")
    return bool(value)


def parse_temperature(value: Any) -> float:
    """The sampling temperature; flow bodies are templated text, so numeric strings count.

    >>> [parse_temperature(v) for v in (None, "", "0.7", 1)]
    [0.0, 0.0, 0.7, 1.0]
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0.0
    if isinstance(value, bool):
        raise FunctionError("temperature should be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FunctionError("temperature should be a number") from None


def parse_response_format(value: Any) -> dict[str, Any] | None:
    """The ``response_format`` to send, given as an object or as its JSON text.

    >>> parse_response_format('{"type": "json_object"}')
    {'type': 'json_object'}
    >>> parse_response_format(None) is None
    True
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict) or value.get("type") not in RESPONSE_FORMAT_TYPES:
        raise FunctionError("response_format type should be json_schema or json_object")
    return value


def decode_reply(text: str) -> Any:
    """The reply as a JSON object or array when it is one, otherwise the text unchanged.

    >>> decode_reply('{"answer": 42}')
    {'answer': 42}
    >>> decode_reply("42")
    '42'
    """
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict | list) else text
