"""``translate``: text from one language into another, by the organisation's LLM.

Body: ``text``, ``target_language`` (a name or code: "hindi", "hi", "hin"), optionally
``source_language``. Result: ``translated_text`` (and ``message``, the same, for flows written
for Glific's other functions). The same language on both sides returns the text unasked.
"""

from __future__ import annotations

from typing import Any

from sutra.engine.languages import language_name, normalize_language
from sutra.functions.llmcall import complete
from sutra.functions.registry import FunctionCall, FunctionError, function

FUNCTION = "translate"
MODEL = "gpt-4o-mini"
_PROMPT = (
    "You translate text for a helpline. Translate the user's message{source} into {target}. "
    "Keep numbers, names and links as they are. Answer with the translation only."
)


def same_language(source: str, target: str) -> bool:
    """Whether translating is needed: no target, or the same language however written.

    >>> same_language("english", "eng"), same_language("english", "hi"), same_language("en", "")
    (True, False, True)
    """
    if not target.strip() or target.strip().startswith("@"):
        return True
    return normalize_language(source or "en") == normalize_language(target)


async def translate_text(
    call: FunctionCall, text: str, *, source: str, target: str, function: str = FUNCTION
) -> str:
    """``text`` in ``target``; unchanged when it already is (or no target is given)."""
    if not text.strip() or same_language(source, target):
        return text
    prompt = _PROMPT.format(
        source=f" from {language_name(source)}" if source.strip() else "",
        target=language_name(target),
    )
    completion = await complete(
        call,
        [{"role": "system", "content": prompt}, {"role": "user", "content": text}],
        function=function,
        model=str(call.fields.get("model") or MODEL),
    )
    return completion.text.strip() or text


@function(
    FUNCTION,
    body={"text": "", "source_language": "english", "target_language": "hindi"},
    example={"success": True, "translated_text": "नमस्ते", "message": "नमस्ते"},
)
async def translate(call: FunctionCall) -> dict[str, Any]:
    """Translate ``text`` into ``target_language``."""
    text = str(call.fields.get("text") or "").strip()
    if not text:
        raise FunctionError("text is empty", status=400)
    target = str(call.fields.get("target_language") or "").strip()
    if not target:
        raise FunctionError("target_language is empty", status=400)
    source = str(call.fields.get("source_language") or "").strip()
    translated = await translate_text(call, text, source=source, target=target)
    return {"success": True, "translated_text": translated, "message": translated}
