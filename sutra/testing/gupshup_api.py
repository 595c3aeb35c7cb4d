"""A loopback stand-in for Gupshup's WhatsApp API, and builders of its callbacks.

The real :class:`~sutra.channels.gupshup.Gupshup` channel talks to it over HTTP::

    with GupshupStubServer(api_key="key") as gs:
        channel = Gupshup("key", "myapp", "917834811114", api_url=gs.api_url)
        gs.plan_error(429, "Too Many Requests")
        ...
        assert gs.messages[0] == {"type": "text", "text": "hi"}

It answers ``POST /wa/api/v1/msg`` and ``POST /wa/api/v1/template/msg`` (form-encoded, key in the
``apikey`` header) with ``202 {"status": "submitted", "messageId": "<uuid>"}``, as Gupshup does,
after checking the key and the form fields. :func:`gupshup_text_payload` and
:func:`gupshup_event_payload` build the callbacks Gupshup would post to Sutra.

Run ``python -m sutra.testing.gupshup_api --port 8767`` for a manual demo server.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sutra.testing.graph_api import PlannedError, RecordedRequest, RecordingServer
from sutra.testing.loopback import command_line, serve_until_interrupted

DEFAULT_API_KEY = "test-gupshup-key"
DEFAULT_APP = "sutra-test"


class GupshupStubServer(RecordingServer):
    """Gupshup's send API on loopback; point ``Gupshup`` at :attr:`api_url`."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
    ) -> None:
        super().__init__(host=host, port=port, delay=delay)
        self.api_key = api_key

    @property
    def api_url(self) -> str:
        return self.base_url

    @property
    def sends(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def sent(self) -> list[dict[str, str]]:
        """The form fields of every send received (accepted or not), in order."""
        return [r.body for r in self.sends]

    @property
    def messages(self) -> list[Any]:
        """The decoded ``message`` (or, for templates, ``template``) field of every send."""
        decoded: list[Any] = []
        for form in self.sent:
            field = form.get("message") or form.get("template")
            try:
                decoded.append(json.loads(field) if field is not None else None)
            except ValueError:
                decoded.append(field)
        return decoded

    def plan_error(
        self, status: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next send with ``{"status": "error", "message": message}``."""
        planned = PlannedError(status, {"status": "error", "message": message}, headers or {})
        with self._state.lock:
            self._state.plan.append(planned)

    def _make_app(self) -> FastAPI:
        state = self._state
        app = FastAPI(
            title="Gupshup stand-in",
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
            lifespan=self.clock.lifespan(),
        )

        async def handle(request: Request, required: str) -> Response:
            raw = await request.body()
            # parse_qs rather than request.form(): no python-multipart needed for a stand-in.
            form = {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace")).items()}
            state.record(request, raw, form)
            if request.headers.get("apikey") != self.api_key:
                return _error(401, "Authentication Failed")
            planned = state.next_planned()
            await self.clock.pause(self.clock.delay)
            if planned is not None:
                return JSONResponse(planned.body, planned.status, headers=planned.headers)
            if form.get("channel") != "whatsapp":
                return _error(400, "Invalid Channel")
            if not form.get("source"):
                return _error(400, "Invalid Source")
            if not form.get("destination", "").isdigit():
                return _error(400, "Invalid Destination")
            if not form.get("src.name"):
                return _error(400, "Invalid App Details")
            try:
                content = json.loads(form.get(required, ""))
            except ValueError:
                content = None
            if not isinstance(content, dict) or (required == "message" and not content.get("type")):
                return _error(400, f"Invalid {required.capitalize()}")
            return JSONResponse(
                {"status": "submitted", "messageId": str(uuid.uuid4())}, status_code=202
            )

        @app.post("/wa/api/v1/msg")
        async def msg(request: Request) -> Response:
            return await handle(request, "message")

        @app.post("/wa/api/v1/template/msg")
        async def template_msg(request: Request) -> Response:
            return await handle(request, "template")

        return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


# --- callback builders ----------------------------------------------------------------------


def gupshup_text_payload(
    from_: str,
    text: str,
    *,
    name: str | None = "Test User",
    msg_id: str | None = None,
    app: str = DEFAULT_APP,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """A v2 ``message`` callback carrying one text message from ``from_``."""
    return gupshup_message_payload(
        from_, "text", {"text": text}, name=name, msg_id=msg_id, app=app, timestamp_ms=timestamp_ms
    )


def gupshup_message_payload(
    from_: str,
    kind: str,
    content: dict[str, Any],
    *,
    name: str | None = "Test User",
    msg_id: str | None = None,
    app: str = DEFAULT_APP,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """A v2 ``message`` callback of any ``kind`` (``image``, ``button_reply``...)."""
    sender: dict[str, Any] = {"phone": from_, "country_code": from_[:2], "dial_code": from_[2:]}
    if name is not None:
        sender["name"] = name
    return {
        "app": app,
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "version": 2,
        "type": "message",
        "payload": {
            "id": msg_id or f"ABEGkZUTIXZ0Ago{uuid.uuid4().hex[:14]}",
            "source": from_,
            "type": kind,
            "payload": content,
            "sender": sender,
        },
    }


def gupshup_event_payload(
    gs_id: str,
    status: str,
    *,
    destination: str,
    wa_id: str | None = None,
    code: int | None = None,
    reason: str | None = None,
    app: str = DEFAULT_APP,
) -> dict[str, Any]:
    """A v2 ``message-event`` callback about the message Gupshup answered ``gs_id`` for.

    As Gupshup does, sent/delivered/read events carry WhatsApp's id in ``id`` and ``gs_id`` in
    ``gsId``; enqueued and failed ones carry ``gs_id`` in ``id``.
    """
    now = int(time.time())
    inner: dict[str, Any] = {"type": status, "destination": destination}
    if status in ("sent", "delivered", "read"):
        inner["id"] = wa_id or f"gBEGkYaYVSEEAgn{uuid.uuid4().hex[:12]}"
        inner["gsId"] = gs_id
        inner["payload"] = {"ts": now}
    else:
        inner["id"] = gs_id
        if status == "failed":
            inner["payload"] = {"code": code or 1002, "reason": reason or "Number Does Not Exist"}
        else:
            inner["payload"] = {"whatsappMessageId": wa_id or "", "type": "session"}
    return {
        "app": app,
        "timestamp": now * 1000,
        "version": 2,
        "type": "message-event",
        "payload": inner,
    }


def main(argv: list[str] | None = None) -> None:
    parser = command_line("Run a Gupshup WhatsApp API stand-in.")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    server = GupshupStubServer(
        host=args.host, port=args.port, api_key=args.api_key, delay=args.delay
    )
    serve_until_interrupted(server, lambda: server.api_url)


if __name__ == "__main__":
    main()
