"""``parse_via_chat_gpt``: ask a chat model one question from a flow (contract section 6)."""

from __future__ import annotations

import json
from typing import Any

from sutra.functions.registry import FunctionCall, FunctionError, function
from sutra.llm.base import LLMError

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
    flow can read ``@results.NAME.parsed_msg.key``.
    """
    fields = call.fields
    question = fields.get("question_text")
    if question is None or not str(question).strip():
        raise FunctionError("question_text is empty")

    messages: list[dict[str, Any]] = []
    prompt = fields.get("prompt")
    if prompt is not None:
        messages.append({"role": "system", "content": str(prompt)})
    messages.append({"role": "user", "content": str(question)})

    model = str(fields.get("model") or fields.get("gpt_model") or DEFAULT_MODEL).strip()
    temperature = _temperature(fields.get("temperature"))
    response_format = _response_format(fields.get("response_format"))

    provider = call.services.llm
    if provider is None:
        # Imported here so that loading the function registry never pulls in the OpenAI SDK.
        from sutra.llm.select import get_provider

        provider = get_provider(call.services.settings)
    try:
        completion = await provider.complete(
            messages, model=model, temperature=temperature, response_format=response_format
        )
    except LLMError as exc:
        raise FunctionError(exc.reason, status=exc.status) from exc
    call.usage.append(completion.usage)
    return {"success": True, "parsed_msg": _decode(completion.text)}


def _temperature(value: Any) -> float:
    """The sampling temperature; flow bodies are templated text, so numeric strings count.

    >>> _temperature(None), _temperature(""), _temperature("0.7"), _temperature(1)
    (0.0, 0.0, 0.7, 1.0)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0.0
    if isinstance(value, bool):
        raise FunctionError("temperature should be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FunctionError("temperature should be a number") from None


def _response_format(value: Any) -> dict[str, Any] | None:
    """The ``response_format`` to send, given as an object or as its JSON text.

    >>> _response_format('{"type": "json_object"}')
    {'type': 'json_object'}
    >>> _response_format(None) is None
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


def _decode(text: str) -> Any:
    """The reply as a JSON object or array when it is one, otherwise the text unchanged.

    >>> _decode('{"answer": 42}')
    {'answer': 42}
    >>> _decode("42")
    '42'
    """
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict | list) else text
