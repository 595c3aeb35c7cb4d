"""Request body limits, enforced while the body arrives.

Starlette reads a body whole into memory, so without a limit one unauthenticated 100 MB post
costs 100 MB (several times that, with the copies) before any route can refuse it. The limit
is per endpoint: channel webhooks are small, flow files can be large, anything else is a
small JSON document. A declared Content-Length over the limit is refused before a byte is
read; a body without one (chunked) is counted as it comes and refused at the limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sutra.assistants.extract import MAX_BYTES as DOCUMENT_MAX_BYTES
from sutra.config import ServerSettings
from sutra.web.simvoice import BODY_BYTES as VOICE_BODY_BYTES

log = logging.getLogger(__name__)

DOCUMENT_BODY_BYTES = DOCUMENT_MAX_BYTES + 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised from ``receive``: the route reading the body turns it into its 413."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(413, limit.problem)


@dataclass(frozen=True)
class Limit:
    max_bytes: int
    # The setting that raises it, for the operator reading the refusal in a log.
    setting: str

    @property
    def problem(self) -> str:
        return f"request body larger than {self.max_bytes} bytes (see {self.setting})"


def limits_for(settings: ServerSettings) -> tuple[list[tuple[str, Limit]], Limit]:
    """Path prefixes and their limits, longest first, and the limit for everything else."""
    flows = Limit(settings.sutra_flow_max_bytes, "SUTRA_FLOW_MAX_BYTES")
    imports = Limit(settings.sutra_import_max_bytes, "SUTRA_IMPORT_MAX_BYTES")
    by_prefix = [
        ("/webhooks/", Limit(settings.sutra_channel_max_bytes, "SUTRA_CHANNEL_MAX_BYTES")),
        # The three ways a flow definition comes in: the API, the flow list, the editor.
        ("/api/v1/flows/import", flows),
        ("/flows/import", flows),
        ("/flow-editor/revisions/", flows),
        # A contact CSV, from the API and from the import page (preview, then import).
        ("/api/v1/contacts/imports", imports),
        ("/console/api/contacts/imports", imports),
        # An assistant's documents (the route itself refuses a file over the limit; this leaves
        # room for the multipart form around it). Prefixes cannot single out /documents.
        ("/api/v1/assistants/", Limit(DOCUMENT_BODY_BYTES, "documents are at most 20 MB")),
        # A voice note sent from the simulator (WhatsApp's 16 MB, and the form around it).
        ("/simulator/api/voice", Limit(VOICE_BODY_BYTES, "voice notes are at most 16 MB")),
    ]
    default = Limit(settings.sutra_request_max_bytes, "SUTRA_REQUEST_MAX_BYTES")
    return sorted(by_prefix, key=lambda item: -len(item[0])), default


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.by_prefix, self.default = limits_for(settings)

    def limit(self, path: str) -> Limit:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            # Refused unread. uvicorn holds at most 64 KB of a body nobody reads, and once the
            # answer is sent it discards the rest as it arrives (the client, which sends the
            # whole body before it reads, then hears the 413 instead of a reset connection).
            _log(scope, limit)
            await _refuse(scope, limit, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    _log(scope, limit)
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # Routes answer it themselves (an HTTPException); this is for code that let it
            # through, e.g. a background reader.
            if started:
                raise
            await _refuse(scope, limit, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _log(scope: Scope, limit: Limit) -> None:
    # The path only: a query string can hold a token (Gupshup's ?token=).
    log.warning("refused the body of %s %s: %s", scope["method"], scope["path"], limit.problem)


async def _refuse(scope: Scope, limit: Limit, send: Send) -> None:
    response = JSONResponse({"detail": limit.problem}, status_code=413)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
