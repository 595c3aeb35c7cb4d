"""Text from outside made storable: no lone surrogates, no NUL.

JSON can spell both (``"\\ud800"``, ``"\\u0000"``) and Python decodes them into a ``str``, but
neither survives the trip to the database: UTF-8 has no encoding for a lone surrogate (SQLite's
driver raises), and PostgreSQL's text and jsonb refuse NUL. A message holding one would fail
its unit of work every time, so text is cleaned where it enters (channel webhooks, webhook and
LLM answers, flow files) and the rest of the message is kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD and NUL removed.

    >>> clean_text("caf\\u00e9 \\ud800 ok\\x00") == "café \\ufffd ok"
    True
    >>> clean_text("\\ud83d\\ude00")  # a pair spelt as two code points is the character it spells
    '😀'
    """
    if text.isascii():
        return text.replace("\x00", "") if "\x00" in text else text
    if UNSTORABLE.search(text) is None:
        return text
    # Through UTF-16: a surrogate pair becomes its character, a lone half becomes U+FFFD.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined.replace("\x00", "")


def clean_json(value: Any) -> Any:
    """A copy of decoded JSON with every string (keys too) passed through :func:`clean_text`.

    >>> cleaned = clean_json({"a\\x00": ["\\ud800", 1, None, {"b": "ok"}]})
    >>> cleaned == {"a": ["\\ufffd", 1, None, {"b": "ok"}]}
    True
    """
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list):
        return value
    # A loop, not recursion: an answer from outside can be nested deeper than Python's stack.
    root = _copy(value)
    pending: list[dict[Any, Any] | list[Any]] = [root]
    while pending:
        container = pending.pop()
        if isinstance(container, list):
            for index, item in enumerate(container):
                container[index] = _clean_item(item, pending)
        else:
            items = list(container.items())
            container.clear()
            for key, item in items:
                key = clean_text(key) if isinstance(key, str) else key
                container[key] = _clean_item(item, pending)
    return root


def _copy(container: dict[Any, Any] | list[Any]) -> dict[Any, Any] | list[Any]:
    return dict(container) if isinstance(container, dict) else list(container)


def _clean_item(item: Any, pending: list[dict[Any, Any] | list[Any]]) -> Any:
    if isinstance(item, str):
        return clean_text(item)
    if isinstance(item, dict | list):
        copied = _copy(item)
        pending.append(copied)
        return copied
    return item


def storable_json(value: Any) -> str:
    """``value`` as JSON text a database stores (the ORM's serializer: what staff and the API
    write goes through it).

    >>> stored = storable_json({"name": "A\\x00sha", "note": "\\ud800!"})
    >>> stored == '{"name": "Asha", "note": "\\ufffd!"}'
    True
    """
    text = json.dumps(value, ensure_ascii=False)
    # A NUL comes out escaped; a lone surrogate stays itself (ensure_ascii=False).
    if "\\u0000" in text or (not text.isascii() and UNSTORABLE.search(text)):
        text = json.dumps(clean_json(value), ensure_ascii=False)
    return text
