"""A loopback stand-in for Meta's Graph API (WhatsApp Cloud), and builders of signed webhooks.

The real :class:`~sutra.channels.whatsapp.WhatsAppCloud` talks to it over HTTP, so tests and
benchmarks exercise the same JSON, headers and error bodies as production::

    with GraphAPIStubServer(access_token="tok") as graph:
        channel = WhatsAppCloud("tok", "1234", api_url=graph.api_url)
        graph.plan_error(400, 131047, "Re-engagement message")
        ...
        assert graph.sent[0]["text"] == {"body": "hi"}

It answers ``POST /{version}/{phone_number_id}/messages`` like the Cloud API (after checking the
bearer token and, unless ``validate=False``, the message against the API's limits: a template
send against the templates seeded with :meth:`~GraphAPIStubServer.add_template`, when its name
is one of them), lists those templates at ``GET /{version}/{waba_id}/message_templates`` as
Meta does (``fields``, ``limit``, ``after``; ``paging.cursors`` and ``paging.next``), serves media
metadata at ``GET /{version}/{media_id}`` and the bytes at the URL that metadata names, which
also needs the bearer token, as Meta's does. ``faults=SendFaults(0.05, seed=1)`` refuses a
seeded share of the sends (429 rate limit, 500), and ``delivered`` holds the sends it took.

For the inbound side, :func:`whatsapp_text_payload` and :func:`whatsapp_status_payload` build
webhook bodies and :func:`signed_webhook` the raw bytes and headers to post to Sutra.

Run ``python -m sutra.testing.graph_api --port 8766`` for a manual demo server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sutra.testing.loopback import LoopbackServer, command_line, serve_until_interrupted

DEFAULT_VERSION = "v21.0"
DEFAULT_TOKEN = "test-access-token"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_NUMBER = "15550783881"
# The WhatsApp Business Account the default number belongs to (the webhooks' ``entry.id``).
DEFAULT_WABA_ID = "102290129340398"
# Meta's page size for the template list when no ``limit`` is given.
TEMPLATES_PAGE = 25


@dataclass(frozen=True)
class RecordedRequest:
    """One request a stand-in received; ``body`` is the parsed JSON or form, when it had one."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    raw: bytes
    query: str = ""


@dataclass(frozen=True)
class PlannedError:
    """An error answer for the next send: HTTP ``status`` with ``body`` (and ``headers``)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


# Queued by plan_ok(): a send that gets the normal answer, so a later one can fail.
_PASS = PlannedError(0, {})


def _default_send_faults() -> tuple[PlannedError, ...]:
    # The number's throughput limit (retried after a pause) and Meta's "something went wrong".
    return (
        PlannedError(429, _graph_error(130429, "(#130429) Rate limit hit", "OAuthException")),
        PlannedError(500, _graph_error(131000, "(#131000) Something went wrong", "OAuthException")),
    )


@dataclass(frozen=True)
class SendFaults:
    """Each send with no error planned is refused with probability ``rate``, with one of ``mix``
    chosen at random; ``seed`` makes the sequence of draws repeatable. A refused send is not
    delivered and gets no status."""

    rate: float
    mix: tuple[PlannedError, ...] = field(default_factory=_default_send_faults)
    seed: int = 0


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[RecordedRequest] = field(default_factory=list)
    plan: deque[PlannedError] = field(default_factory=deque)

    def record(self, request: Request, raw: bytes, body: Any) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self.lock:
            self.received.append(
                RecordedRequest(
                    request.method, request.url.path, headers, body, raw, request.url.query
                )
            )

    def next_planned(self) -> PlannedError | None:
        """The planned error for this send; None for a normal answer."""
        with self.lock:
            planned = self.plan.popleft() if self.plan else None
        return None if planned is _PASS else planned


class RecordingServer(LoopbackServer):
    """A stand-in that records what it receives and answers planned errors in turn."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0) -> None:
        super().__init__(host=host, port=port, delay=delay)
        self._state = _State()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        with self._state.lock:
            return list(self._state.received)

    def plan_ok(self, count: int = 1) -> None:
        """Let the next ``count`` sends through normally, before the errors planned after."""
        with self._state.lock:
            self._state.plan.extend([_PASS] * count)

    def reset(self) -> None:
        """Forget planned errors and received requests (for a server shared across tests)."""
        with self._state.lock:
            self._state.plan.clear()
            self._state.received.clear()


@dataclass(frozen=True)
class _Media:
    data: bytes
    mime_type: str


class GraphAPIStubServer(RecordingServer):
    """Meta's Graph API for WhatsApp, on loopback; point ``WhatsAppCloud`` at :attr:`api_url`.

    Every request needs ``Authorization: Bearer <access_token>`` (code 190 otherwise). With
    ``validate`` on, a send that breaks the Cloud API's rules gets the error Meta would give
    (code 100 for a malformed body, 131009 for a value over a limit).
    """

    def __init__(
        self,
        *,
        access_token: str = DEFAULT_TOKEN,
        version: str = DEFAULT_VERSION,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
        validate: bool = True,
        faults: SendFaults | None = None,
    ) -> None:
        super().__init__(host=host, port=port, delay=delay)
        self.access_token = access_token
        self.version = version
        self.validate = validate
        self._media: dict[str, _Media] = {}
        self._media_ids = itertools.count(1_000_000_000_000_001)
        self._status_targets: list[str] = []
        self._status_secret = ""
        # Statuses not yet taken by the app, and the one task posting them.
        self._unreported: list[dict[str, Any]] = []
        self._reporting: asyncio.Task[None] | None = None
        self._reporter: httpx.AsyncClient | None = None
        self._delivered: list[dict[str, Any]] = []
        self._fault_rng = random.Random(0)
        self._faults: SendFaults | None = None
        self.faults = faults
        # Numbers of other businesses on this stand-in, each with its own access token.
        self._numbers: dict[str, str] = {}
        # Message templates per WhatsApp Business Account id, in the order Meta lists them.
        self._templates: dict[str, list[dict[str, Any]]] = {}
        self._template_ids = itertools.count(900_000_000_000_001)

    @property
    def faults(self) -> SendFaults | None:
        return self._faults

    @faults.setter
    def faults(self, faults: SendFaults | None) -> None:
        with self._state.lock:
            self._faults = faults
            self._fault_rng = random.Random(faults.seed if faults else 0)

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The JSON bodies of the sends answered 200 (what recipients got), in answer order."""
        with self._state.lock:
            return list(self._delivered)

    def _fault(self) -> PlannedError | None:
        with self._state.lock:
            faults = self._faults
            if faults is None or not faults.mix or self._fault_rng.random() >= faults.rate:
                return None
            return self._fault_rng.choice(faults.mix)

    def add_number(self, phone_number_id: str, access_token: str) -> None:
        """Another WhatsApp number (another organisation's): sends from it need its own
        token, and its token sends from no other number."""
        self._numbers[phone_number_id] = access_token

    def sent_from(self, phone_number_id: str) -> list[dict[str, Any]]:
        """The bodies of the sends from one number made with its own token."""
        token = f"Bearer {self._numbers.get(phone_number_id, self.access_token)}"
        return [
            r.body
            for r in self.sends
            if r.path.rstrip("/").split("/")[-2] == phone_number_id
            and r.headers.get("authorization") == token
            and isinstance(r.body, dict)
        ]

    def report_statuses(self, webhook_urls: list[str], app_secret: str) -> None:
        """After each accepted send, post its signed "sent" status (echoing
        ``biz_opaque_callback_data``) to the first of these webhook URLs that takes it, as
        Meta does — including for a send whose sender died before reading the answer."""
        self._status_targets = list(webhook_urls)
        self._status_secret = app_secret

    def _report_sent(self, wamid: str, body: dict[str, Any]) -> None:
        item = whatsapp_status_payload(wamid, "sent", recipient_id=str(body.get("to", "")))
        status = item["entry"][0]["changes"][0]["value"]["statuses"][0]
        reference = body.get("biz_opaque_callback_data")
        if reference:
            status["biz_opaque_callback_data"] = reference
        self._unreported.append(status)
        if self._reporting is None or self._reporting.done():
            self._reporting = asyncio.get_running_loop().create_task(self._report())

    async def _report(self) -> None:
        """Post the statuses waiting, up to 100 a webhook (Meta batches them too), each batch to
        the first URL that takes it; one nobody takes is posted again every 0.5 s for a minute,
        as Meta retries. One task and one client for all: a post each, under load, cost the
        stand-in more CPU than the sends (and a client each ~40 ms for its SSL context), so
        its answers to the sends came too late."""
        if self._reporter is None:
            self._reporter = httpx.AsyncClient(timeout=5)
        client = self._reporter
        failures = 0
        while self._unreported:
            batch = self._unreported[:100]
            payload = _webhook({"statuses": batch}, DEFAULT_PHONE_NUMBER_ID)
            raw, headers = signed_webhook(self._status_secret, payload)
            taken = False
            for url in self._status_targets:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.post(url, content=raw, headers=headers)).is_success:
                        taken = True
                        break
            if taken or failures >= 120:
                del self._unreported[: len(batch)]
                failures = 0
            else:
                failures += 1
                await asyncio.sleep(0.5)

    def stop(self) -> None:
        client, self._reporter = self._reporter, None
        loop = self.clock.loop
        if client is not None and loop is not None and loop.is_running():
            # Closed on the loop it belongs to, before that loop ends with the server.
            with contextlib.suppress(TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(5)
        super().stop()

    @property
    def api_url(self) -> str:
        """The ``api_url`` for WhatsAppCloud: the base URL with the Graph API version."""
        return f"{self.base_url}/{self.version}"

    @property
    def sends(self) -> list[RecordedRequest]:
        """The requests to ``/{phone_number_id}/messages``, in order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/messages")]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The JSON bodies of every send received (accepted or not), in order."""
        return [r.body for r in self.sends]

    def plan_error(
        self,
        status: int,
        code: int,
        message: str,
        *,
        type: str = "OAuthException",
        details: str | None = None,
        subcode: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next send with a Graph API error body; queue several for several sends."""
        planned = PlannedError(
            status, _graph_error(code, message, type, details, subcode), headers or {}
        )
        with self._state.lock:
            self._state.plan.append(planned)

    def add_media(
        self, data: bytes, mime_type: str = "image/jpeg", media_id: str | None = None
    ) -> str:
        """Serve ``data`` as an uploaded media object; returns its media id."""
        media_id = media_id or str(next(self._media_ids))
        with self._state.lock:
            self._media[media_id] = _Media(data, mime_type)
        return media_id

    def add_template(
        self,
        name: str,
        body: str,
        *,
        language: str = "en",
        status: str = "APPROVED",
        category: str = "UTILITY",
        header: str | None = None,
        header_format: str = "TEXT",
        footer: str | None = None,
        waba_id: str = DEFAULT_WABA_ID,
    ) -> dict[str, Any]:
        """A message template of the account ``waba_id``, as the template list shows it (with
        the example values Meta requires for a body with variables); returns it. A
        ``header_format`` other than TEXT (IMAGE, VIDEO, DOCUMENT) is a media header."""
        components: list[dict[str, Any]] = []
        if header_format != "TEXT":
            example = {"header_handle": [f"https://scontent.example/{name}.jpg"]}
            components.append({"type": "HEADER", "format": header_format, "example": example})
        elif header is not None:
            components.append({"type": "HEADER", "format": "TEXT", "text": header})
        body_component: dict[str, Any] = {"type": "BODY", "text": body}
        count = len(set(_PLACEHOLDER.findall(body)))
        if count:
            body_component["example"] = {"body_text": [[f"example {i + 1}" for i in range(count)]]}
        components.append(body_component)
        if footer is not None:
            components.append({"type": "FOOTER", "text": footer})
        template = {
            "name": name,
            "parameter_format": "POSITIONAL",
            "components": components,
            "language": language,
            "status": status,
            "category": category,
            "id": str(next(self._template_ids)),
        }
        with self._state.lock:
            self._templates.setdefault(waba_id, []).append(template)
        return template

    def clear_templates(self) -> None:
        with self._state.lock:
            self._templates.clear()

    @property
    def template_lists(self) -> list[RecordedRequest]:
        """The requests for a template list, in order."""
        return [r for r in self.requests if r.path.endswith("/message_templates")]

    def _template_page(self, waba_id: str, request: Request) -> Response:
        with self._state.lock:
            known = waba_id in self._templates
            templates = list(self._templates.get(waba_id, []))
        if not known:
            return _no_such_object(waba_id)
        try:
            limit = int(request.query_params.get("limit", TEMPLATES_PAGE))
        except ValueError:
            return JSONResponse(
                _graph_error(100, "(#100) Param limit must be an integer", "OAuthException"),
                status_code=400,
            )
        limit = max(1, min(limit, 1000))
        start = 0
        after = request.query_params.get("after")
        if after:
            try:
                start = int(base64.b64decode(after).decode()) + 1
            except ValueError:
                return JSONResponse(
                    _graph_error(100, "(#100) Invalid after cursor", "OAuthException"),
                    status_code=400,
                )
        wanted = [f for f in request.query_params.get("fields", "").split(",") if f.strip()]
        shown = templates[start : start + limit]
        data = [
            {k: v for k, v in t.items() if not wanted or k in wanted or k == "id"} for t in shown
        ]
        out: dict[str, Any] = {"data": data}
        if shown:
            cursors = {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(start + len(shown) - 1).encode()).decode(),
            }
            paging: dict[str, Any] = {"cursors": cursors}
            if start + len(shown) < len(templates):
                query = dict(request.query_params)
                query["after"] = cursors["after"]
                paging["next"] = str(request.url.replace_query_params(**query))
            out["paging"] = paging
        return JSONResponse(out)

    def _check_template(self, template: dict[str, Any]) -> tuple[int, str] | None:
        """Meta's refusal of a template send that does not match the template it names."""
        with self._state.lock:
            seeded = [t for ts in self._templates.values() for t in ts]
        same_name = [t for t in seeded if t["name"] == template.get("name")]
        if not same_name:
            return None  # not seeded: the stand-in does not judge it
        code = (template.get("language") or {}).get("code")
        found = next((t for t in same_name if t["language"] == code), None)
        if found is None:
            return 132001, f"template name ({template.get('name')}) does not exist in {code}"
        if found["status"] != "APPROVED":
            return 132001, f"template {found['name']} is not approved ({found['status']})"
        body = next((c for c in found["components"] if c["type"] == "BODY"), {})
        expected = len(set(_PLACEHOLDER.findall(body.get("text", ""))))
        given = sum(
            len(c.get("parameters") or [])
            for c in template.get("components") or []
            if isinstance(c, dict) and c.get("type") == "body"
        )
        if given != expected:
            return 132000, (
                f"body: number of localizable_params ({given}) does not match the expected "
                f"number of params ({expected})"
            )
        return None

    def reset(self) -> None:
        super().reset()
        with self._state.lock:
            self._media.clear()
            self._delivered.clear()
            self._templates.clear()

    def _authorized(self, request: Request, phone_number_id: str | None = None) -> bool:
        given = request.headers.get("authorization")
        if phone_number_id is not None and phone_number_id in self._numbers:
            return given == f"Bearer {self._numbers[phone_number_id]}"
        tokens = (
            {self.access_token, *self._numbers.values()}
            if phone_number_id is None
            else {self.access_token}
        )
        return given in {f"Bearer {token}" for token in tokens}

    def _make_app(self) -> FastAPI:
        state = self._state
        app = FastAPI(
            title="Graph API stand-in",
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
            lifespan=self.clock.lifespan(),
        )

        # Registered before the catch-all media route below, which would match it too.
        @app.get("/media-bytes/{media_id}")
        async def media_bytes(media_id: str, request: Request) -> Response:
            state.record(request, b"", None)
            if not self._authorized(request):
                return _invalid_token()
            with state.lock:
                media = self._media.get(media_id)
            if media is None:
                return Response(status_code=404)
            return Response(media.data, media_type=media.mime_type)

        @app.get("/{version}/{waba_id}/message_templates")
        async def message_templates(version: str, waba_id: str, request: Request) -> Response:
            state.record(request, b"", None)
            if not self._authorized(request):
                return _invalid_token()
            return self._template_page(waba_id, request)

        @app.get("/{version}/{media_id}")
        async def media_info(version: str, media_id: str, request: Request) -> Response:
            state.record(request, b"", None)
            if not self._authorized(request):
                return _invalid_token()
            with state.lock:
                media = self._media.get(media_id)
            if media is None or version != self.version:
                return JSONResponse(
                    _graph_error(
                        100,
                        f"Unsupported get request. Object with ID '{media_id}' does not exist, "
                        "cannot be loaded due to missing permissions, or does not support this "
                        "operation.",
                        "GraphMethodException",
                        None,
                        33,
                    ),
                    status_code=400,
                )
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.base_url}/media-bytes/{media_id}",
                    "mime_type": media.mime_type,
                    "sha256": hashlib.sha256(media.data).hexdigest(),
                    "file_size": len(media.data),
                    "id": media_id,
                }
            )

        @app.post("/{version}/{phone_number_id}/messages")
        async def messages(version: str, phone_number_id: str, request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            state.record(request, raw, body)
            if not self._authorized(request, phone_number_id):
                return _invalid_token()
            planned = state.next_planned() or self._fault()
            problem = _check_message(body) if self.validate else None
            template = (
                body.get("template")
                if isinstance(body, dict) and body.get("type") == "template"
                else None
            )
            if problem is None and self.validate and isinstance(template, dict):
                problem = self._check_template(body["template"])
            wamid = _wamid()
            if planned is None and problem is None and self._status_targets:
                # Meta reports "sent" on its own schedule, whether or not the sender is still
                # there to read the answer to its request.
                self._report_sent(wamid, body if isinstance(body, dict) else {})
            await self.clock.pause(self.clock.delay)
            if planned is not None:
                return JSONResponse(planned.body, planned.status, headers=planned.headers)
            if problem is not None:
                code, details = problem
                message = _PROBLEMS.get(code, "Parameter value is not valid")
                return JSONResponse(
                    _graph_error(code, f"(#{code}) {message}", "OAuthException", details, None),
                    status_code=400,
                )
            body = body if isinstance(body, dict) else {}
            with state.lock:
                self._delivered.append(body)
            if body.get("to"):
                to = str(body["to"])
                contact = {"input": to, "wa_id": to.lstrip("+")}
            else:  # a business-scoped user id, sent as "recipient"
                recipient = str(body.get("recipient", ""))
                contact = {"input": recipient, "user_id": recipient}
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [contact],
                    "messages": [{"id": wamid}],
                }
            )

        return app


_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_PROBLEMS = {
    100: "Invalid parameter",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
}


def _no_such_object(object_id: str) -> JSONResponse:
    return JSONResponse(
        _graph_error(
            100,
            f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            "GraphMethodException",
            None,
            33,
        ),
        status_code=400,
    )


def _wamid() -> str:
    return f"wamid.HBgL{uuid.uuid4().hex.upper()}"


def _graph_error(
    code: int, message: str, type_: str, details: str | None = None, subcode: int | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = f"A{uuid.uuid4().hex[:22]}"
    return {"error": error}


def _invalid_token() -> JSONResponse:
    return JSONResponse(
        _graph_error(
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "OAuthException",
            None,
            None,
        ),
        status_code=401,
    )


_MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")


def _check_message(body: Any) -> tuple[int, str] | None:
    """``(code, details)`` when the Cloud API would refuse this send body, else None."""
    if not isinstance(body, dict):
        return 100, "The request body must be a JSON object"
    if body.get("messaging_product") != "whatsapp":
        return 100, "The parameter messaging_product is required."
    if not (body.get("to") or body.get("recipient")):
        return 100, "The parameter to is required."
    kind = body.get("type", "text")
    content = body.get(kind)
    if not isinstance(content, dict):
        return 100, f"The parameter {kind} is required."
    if kind == "text":
        text = content.get("body")
        if not isinstance(text, str) or not text:
            return 100, "The parameter text['body'] is required."
        if len(text) > 4096:
            return 131009, "Text body length invalid. Max length: 4096"
        return None
    if kind in _MEDIA_KINDS:
        if not (content.get("link") or content.get("id")):
            return 100, f"The parameter {kind}['link'] or {kind}['id'] is required."
        link = content.get("link")
        # Meta fetches a link itself: it must be an absolute http(s) URL.
        if link is not None and not (
            isinstance(link, str) and link.startswith(("http://", "https://"))
        ):
            return 100, f"Param {kind}['link'] is not a valid URL"
        if kind in ("audio", "sticker") and "caption" in content:
            return 100, f"Param {kind}['caption'] is not allowed"
        return None
    if kind == "template":
        if not content.get("name") or not isinstance(content.get("language"), dict):
            return 100, "The parameters template['name'] and template['language'] are required."
        return None
    if kind == "interactive":
        return _check_interactive(content)
    return 100, f"Unsupported message type {kind}"


def _check_interactive(interactive: dict[str, Any]) -> tuple[int, str] | None:
    body = interactive.get("body")
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text:
        return 100, "The parameter interactive['body']['text'] is required."
    if len(text) > 1024:
        return 131009, "Body text length invalid. Max length: 1024"
    action = interactive.get("action")
    if not isinstance(action, dict):
        return 100, "The parameter interactive['action'] is required."
    kind = interactive.get("type")
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return 131009, "Buttons count invalid. Min: 1, Max: 3"
        ids = [b.get("reply", {}).get("id") for b in buttons if isinstance(b, dict)]
        titles = [b.get("reply", {}).get("title") for b in buttons if isinstance(b, dict)]
        if len(set(ids)) != len(buttons) or len(set(titles)) != len(buttons):
            return 131009, "Button ids and titles must be unique"
        for title, reply_id in zip(titles, ids, strict=True):
            if not isinstance(title, str) or not 1 <= len(title) <= 20:
                return 131009, "Button title length invalid. Min length: 1, Max length: 20"
            if not isinstance(reply_id, str) or not 1 <= len(reply_id) <= 256:
                return 131009, "Button id length invalid. Min length: 1, Max length: 256"
        return None
    if kind == "list":
        button = action.get("button")
        if not isinstance(button, str) or not 1 <= len(button) <= 20:
            return 131009, "Button label length invalid. Min length: 1, Max length: 20"
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            return 131009, "Sections count invalid. Min: 1, Max: 10"
        rows = [r for s in sections if isinstance(s, dict) for r in s.get("rows", [])]
        if not 1 <= len(rows) <= 10:
            return 131009, "Total row count exceed max allowed count: 10"
        if len(sections) > 1 and any(not s.get("title") for s in sections):
            return 131009, "Section title is required when there are several sections"
        if len({r.get("id") for r in rows}) != len(rows):
            return 131009, "Row ids must be unique"
        for row in rows:
            if not isinstance(row.get("title"), str) or not 1 <= len(row["title"]) <= 24:
                return 131009, "Row title length invalid. Min length: 1, Max length: 24"
            if len(row.get("description", "")) > 72:
                return 131009, "Row description length invalid. Max length: 72"
        return None
    if kind == "location_request_message":
        return None if action.get("name") == "send_location" else (100, "Invalid action name")
    return 100, f"Unsupported interactive type {kind}"


# --- inbound webhook builders ---------------------------------------------------------------


def whatsapp_text_payload(
    from_: str,
    text: str,
    *,
    name: str | None = "Test User",
    wamid: str | None = None,
    timestamp: int | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A ``messages`` webhook carrying one text message from ``from_``."""
    contact: dict[str, Any] = {"wa_id": from_}
    if name is not None:
        contact["profile"] = {"name": name}
    message = {
        "from": from_,
        "id": wamid or _wamid(),
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    return _webhook({"contacts": [contact], "messages": [message]}, phone_number_id)


def whatsapp_media_payload(
    from_: str,
    kind: str,
    media_id: str,
    mime_type: str,
    *,
    voice: bool = False,
    name: str | None = "Test User",
    wamid: str | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A ``messages`` webhook carrying one media message (``kind``: image, audio, …) whose
    bytes the stub serves under ``media_id`` (:meth:`GraphAPIStubServer.add_media`);
    ``voice`` marks an audio message recorded in WhatsApp (a voice note)."""
    payload = whatsapp_text_payload(
        from_, "", name=name, wamid=wamid, phone_number_id=phone_number_id
    )
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    media: dict[str, Any] = {"id": media_id, "mime_type": mime_type, "sha256": "stub"}
    if kind == "audio":
        media["voice"] = voice
    message.update(type=kind, **{kind: media})
    return payload


def whatsapp_status_payload(
    wamid: str,
    status: str,
    *,
    recipient_id: str,
    timestamp: int | None = None,
    error_code: int | None = None,
    error_title: str | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A ``messages`` webhook carrying one status: sent, delivered, read or failed."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "recipient_id": recipient_id,
    }
    if error_code is not None:
        title = error_title or "Error"
        item["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": title},
            }
        ]
    return _webhook({"statuses": [item]}, phone_number_id)


def _webhook(value: dict[str, Any], phone_number_id: str) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DEFAULT_DISPLAY_NUMBER,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def signature_header(app_secret: str, raw: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``raw``."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def signed_webhook(app_secret: str, payload: Any) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a webhook POST, signed as Meta signs them."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return raw, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature_header(app_secret, raw),
    }


def main(argv: list[str] | None = None) -> None:
    parser = command_line("Run a Graph API (WhatsApp Cloud) stand-in.")
    parser.add_argument("--access-token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    server = GraphAPIStubServer(
        host=args.host, port=args.port, access_token=args.access_token, delay=args.delay
    )
    serve_until_interrupted(server, lambda: server.api_url)


if __name__ == "__main__":
    main()
