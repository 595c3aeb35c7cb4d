"""JSON request bodies made storable before a route reads them.

A JSON body can spell a NUL or a lone surrogate as an escape (``"\\u0000"``, ``"\\ud800"``);
FastAPI decodes it into the route's model as is, and then PostgreSQL refuses the NUL, UTF-8
cannot encode the surrogate, and the route fails with a 500 — in the database or while it
writes its answer. Cleaning each model would be one validator per model, forgotten on the
next; here every JSON body that spells one is decoded with :func:`sutra.jsonparse.loads` (which
cleans) and written back, before any route sees it. Bodies without such an escape (nearly all)
pass untouched after one search of their bytes.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sutra import jsonparse

# The escapes that decode to a NUL or to half of a surrogate pair (a whole pair, an emoji
# spelt in ASCII, matches too and comes back the character it spells).
_UNSTORABLE_ESCAPE = re.compile(jsonparse.UNSTORABLE_ESCAPE.encode())


class CleanJSONMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A channel's webhook is signed over its bytes, which must stay as they came; its
        # route decodes with jsonparse itself.
        if scope["type"] != "http" or scope["path"].startswith("/webhooks/") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        # Read whole here as the route would (the body limit, outside this, bounds it).
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _UNSTORABLE_ESCAPE.search(body):
            body = _cleaned(body)
            scope = {**scope, "headers": _with_length(scope, len(body))}
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _is_json(scope: Scope) -> bool:
    kind = Headers(scope=scope).get("content-type", "")
    return kind.split(";", 1)[0].strip().lower().endswith("json")


def _cleaned(body: bytes) -> bytes:
    try:
        value = jsonparse.loads(body)
    except ValueError:  # not JSON after all: the route answers its own 4xx
        return body
    return json.dumps(value, ensure_ascii=False).encode()


def _with_length(scope: Scope, length: int) -> list[tuple[bytes, bytes]]:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    return [*headers, (b"content-length", str(length).encode())]


def _replay(messages: list[Message], then: Receive) -> Receive:
    """``messages``, then what the client does next (a disconnect, which routes watch for)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return receive
