"""Small webhook functions that need no outside service: ``check_response``, ``get_buttons``."""

from __future__ import annotations

from typing import Any

from sutra.functions.registry import FunctionCall, FunctionError, function

# WhatsApp's limits for interactive reply buttons.
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20


def same_answer(correct: str, given: str) -> bool:
    """Whether ``given`` matches ``correct``, ignoring case and surrounding or repeated spaces.

    >>> same_answer("New Delhi", "  new   delhi ")
    True
    >>> same_answer("4", "four")
    False
    """
    return _normalise(correct) == _normalise(given)


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def split_buttons(buttons_data: str) -> dict[str, Any]:
    """Turn ``"a|b|c"`` into reply buttons; ``is_valid`` says whether WhatsApp can send them.

    >>> split_buttons(" Yes | No|")
    {'buttons': {'button_1': 'Yes', 'button_2': 'No'}, 'button_count': 2, 'is_valid': True}
    >>> split_buttons("a|b|c|d")["is_valid"]
    False
    >>> split_buttons("A title longer than twenty characters")["is_valid"]
    False
    """
    # Blank entries (a trailing "|", or "a||b") are dropped rather than sent as empty buttons.
    titles = [title.strip() for title in buttons_data.split("|") if title.strip()]
    return {
        "buttons": {f"button_{i}": title for i, title in enumerate(titles, start=1)},
        "button_count": len(titles),
        "is_valid": 0 < len(titles) <= MAX_BUTTONS
        and all(len(title) <= MAX_BUTTON_TITLE for title in titles),
    }


@function(
    "check_response",
    body={"correct_response": "", "user_response": "@results.answer"},
    example={"response": True},
)
async def check_response(call: FunctionCall) -> dict[str, Any]:
    """Compare a contact's answer with the expected one (case and spacing ignored)."""
    correct = call.fields.get("correct_response")
    if correct is None:
        raise FunctionError("correct_response is missing")
    given = call.fields.get("user_response")
    return {"response": same_answer(str(correct), "" if given is None else str(given))}


@function(
    "get_buttons",
    body={"buttons_data": "Option 1|Option 2|Option 3"},
    example={
        "buttons": {"button_1": "Option 1", "button_2": "Option 2", "button_3": "Option 3"},
        "button_count": 3,
        "is_valid": True,
    },
)
async def get_buttons(call: FunctionCall) -> dict[str, Any]:
    """Split ``buttons_data`` ("a|b|c") into reply-button titles ``button_1``, ``button_2``, ..."""
    buttons_data = call.fields.get("buttons_data")
    if buttons_data is None:
        raise FunctionError("buttons_data is missing")
    return split_buttons(str(buttons_data))
