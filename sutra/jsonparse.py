"""JSON from outside (channel webhooks, flow files): bounded depth, storable text.

Python's decoder recurses once per level and gives up with ``RecursionError`` (not a
``ValueError``) near 1,000 levels, and what reads the result afterwards (validation, copies,
``json.dumps`` into the database) recurses too. Real payloads are shallow: a Meta webhook
is 9 levels deep, and of the 247 flow files in our corpus the deepest has 11. So the depth is
checked before decoding, on the text, by a linear scan that runs in C (bytes.translate,
itertools.accumulate).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from sutra.text import UNSTORABLE as _UNSTORABLE
from sutra.text import clean_json

MAX_DEPTH = 64

# Bytes that are not a quote or bracket, for bytes.translate to delete. UTF-8 never uses an
# ASCII byte inside a multi-byte character, so a bracket byte is always a bracket.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# A JSON string, escapes included, for the scan that names the place.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_TOKENS = re.compile(rf"{_STRING}|[\[\]{{}},]", re.DOTALL)
# What decodes to a NUL or a surrogate: an escape spelling it, or the character itself.
UNSTORABLE_ESCAPE = r"\\u(?:0000|[dD][89a-fA-F])"
_UNSTORABLE_ESCAPE = re.compile(UNSTORABLE_ESCAPE)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class JSONTooDeep(ValueError):
    """Containers nested deeper than allowed; ``path`` names the first one too deep."""

    def __init__(self, path: str, max_depth: int) -> None:
        self.path = path
        self.problem = f"JSON nested deeper than {max_depth} levels"
        super().__init__(f"{self.problem} at {path}")


def loads(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode ``raw`` like :func:`json.loads`, refusing deep nesting and cleaning the text.

    Raises :class:`json.JSONDecodeError` for a syntax error, :class:`JSONTooDeep` for nesting
    and :class:`JSONNotStandard` for ``NaN``/``Infinity`` (all ``ValueError``); strings come
    back through :func:`sutra.text.clean_text`.
    Bytes that are not valid UTF-8 become U+FFFD rather than an error: a message is kept.

    >>> loads('{"a": [1, "\\\\u0000x"]}')
    {'a': [1, 'x']}
    >>> loads('{"a": {"b": [[1]]}}', max_depth=3)
    Traceback (most recent call last):
    ...
    sutra.jsonparse.JSONTooDeep: JSON nested deeper than 3 levels at $.a.b[0]
    >>> loads('{"age": NaN}')
    Traceback (most recent call last):
    ...
    sutra.jsonparse.JSONNotStandard: NaN is not a JSON value
    >>> loads('[1e999]')
    Traceback (most recent call last):
    ...
    sutra.jsonparse.JSONNotStandard: number 1e999 is out of range
    """
    text = raw.decode(json.detect_encoding(raw), "replace") if isinstance(raw, bytes) else raw
    check_depth(text, max_depth)
    value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    # Most documents spell neither, and are not walked again (isascii is free; the searches
    # cost a fraction of decoding).
    unstorable = _UNSTORABLE_ESCAPE.search(text) or (
        not text.isascii() and _UNSTORABLE.search(text)
    )
    return clean_json(value) if unstorable else value


class JSONNotStandard(ValueError):
    """``NaN``, ``Infinity`` or a number too large for a double: Python reads them, JSON has
    none of them, and no database's JSON column stores them."""


def _refuse_constant(name: str) -> Any:
    raise JSONNotStandard(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise JSONNotStandard(f"number {shown} is out of range")
    return number


def check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JSONTooDeep` when the JSON ``text`` nests deeper than ``max_depth``.

    About as long as decoding: escapes, scalars and strings are cut out with byte operations
    and the running depth of the brackets left is summed. Only a document too deep pays for a
    second, slower scan that names where.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return
    # Escaped backslashes first (so that \\" is not taken for an escaped quote), then escaped
    # quotes: what is left of each string is its two quotes and the brackets inside them.
    data = text.encode("utf-8", "surrogatepass").replace(b"\\\\", b"").replace(b'\\"', b"")
    data = data.translate(None, _NOT_STRUCTURE)
    # Cut at the quotes, the even pieces are outside strings.
    brackets = b"".join(data.split(b'"')[::2])
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth:
        raise JSONTooDeep(_deep_path(text, max_depth), max_depth)


def _deep_path(text: str, max_depth: int) -> str:
    """The JSON path of the first container at depth ``max_depth + 1``."""
    # One frame per open container: its kind, the current key or index, and (for objects)
    # whether the next string is a key.
    frames: list[list[Any]] = []
    for match in _TOKENS.finditer(text):
        token = match[0]
        first = token[0]
        if first in "[{":
            if len(frames) == max_depth:
                return "$" + "".join(_step(frame) for frame in frames)
            frames.append(["[", 0, False] if first == "[" else ["{", "", True])
        elif first in "]}":
            if frames:
                frames.pop()
        elif not frames:
            continue
        elif first == ",":
            frame = frames[-1]
            if frame[0] == "[":
                frame[1] += 1
            else:
                frame[2] = True
        elif frames[-1][0] == "{" and frames[-1][2]:
            frames[-1][1] = _key(token)
            frames[-1][2] = False
    return "$"


def _key(token: str) -> str:
    try:
        key = str(json.loads(token))
    except ValueError:
        key = token.strip('"')
    # A key is as long as the sender likes; the error message is not.
    return key if len(key) <= 40 else key[:40] + "…"


def _step(frame: list[Any]) -> str:
    kind, at, _ = frame
    if kind == "[":
        return f"[{at}]"
    return f".{at}" if _NAME.fullmatch(at) else f"[{json.dumps(at, ensure_ascii=False)}]"
