"""``call_llm``: RapidPro/TextIt's LLM step (spec 14), run through Sutra's LLM layer.

The ``call_llm`` action (sutra/engine/actions/call_llm.py) calls it with the step's templated
``instructions`` (the system message) and ``input`` (the user message); the answer, at most
2,500 tokens, becomes ``@locals.<output_local>``, and a failure ``<ERROR>``. The step's ``llm``
asset names a RapidPro model ("Claude"), not one of Sutra's: the call uses the organisation's
provider with the default model, through the same budgets and usage records as every LLM call.
"""

from __future__ import annotations

from typing import Any

from sutra.functions.gpt import DEFAULT_MODEL
from sutra.functions.llmcall import complete
from sutra.functions.registry import FunctionCall, FunctionError, function

MAX_TOKENS = 2500


@function(
    "call_llm",
    body={"instructions": "", "input": ""},
    example={"answer": "Hotels"},
)
async def call_llm(call: FunctionCall) -> dict[str, Any]:
    """Ask the organisation's LLM: ``instructions`` as the system message, ``input`` as the
    user's; the answer is ``answer``."""
    instructions = str(call.fields.get("instructions") or "").strip()
    text = str(call.fields.get("input") or "").strip()
    if not text and not instructions:
        raise FunctionError("the LLM step has neither instructions nor input")
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.append({"role": "user", "content": text})
    completion = await complete(
        call, messages, function="call_llm", model=DEFAULT_MODEL, max_tokens=MAX_TOKENS
    )
    return {"answer": completion.text.strip()}
