"""Gupshup (the WhatsApp provider Glific uses most): callback parsing and sending.

Inbound messages get the urn ``whatsapp:<sender.phone>``, the scheme the WhatsApp Cloud adapter
uses too, so a contact stays one person when an NGO moves between providers. Each message's
``payload`` keeps Gupshup's message object under ``"message"`` plus the normalised keys the Cloud
adapter sets: ``type``, ``reply_id`` (the id or postback text of a tapped button or list row) and
``context_id`` (the Gupshup id of the message replied to, when there is one).

Gupshup signs nothing: the webhook route protects the callback URL with a secret token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
from typing import Any, Literal, cast

import httpx

from sutra.channels.base import (
    ChannelError,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    sender_address,
)

# Gupshup relays WhatsApp, so the limits, the JSON-walking helpers and the v3 (Meta-format)
# parser are the Cloud adapter's own, shared rather than copied.
from sutra.channels.whatsapp import (
    BUTTON_TITLE_MAX,
    CAPTION_MAX,
    INTERACTIVE_BODY_MAX,
    LIST_BUTTON_MAX,
    MAX_BUTTONS,
    MAX_ROWS,
    RETRY_AFTER_HTTP_429,
    RETRY_AFTER_NETWORK,
    RETRY_AFTER_SERVER_ERROR,
    ROW_DESCRIPTION_MAX,
    ROW_TITLE_MAX,
    STATUSES,
    TEXT_MAX,
    Attachment,
    _chunks,
    _dicts,
    _fit,
    _is_number,
    _json,
    _object,
    _optional_text,
    _retry_after_header,
    _str,
    _text,
    _timestamp,
    parse_attachment,
    parse_cloud_webhook,
)
from sutra.http import async_client

log = logging.getLogger(__name__)

GUPSHUP_API_URL = "https://api.gupshup.io"
MEDIA_TYPES = ("image", "file", "audio", "video", "sticker")
_Status = Literal["sent", "delivered", "read", "failed"]


# --- callback parsing -----------------------------------------------------------------------


def parse_webhook(payload: Any) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """The messages and statuses of one Gupshup callback.

    Understands the v2 callback (``{"app", "timestamp", "version": 2, "type", "payload"}``) and,
    for apps switched to it, the v3 one that forwards Meta's format with ``gs_id`` on statuses.
    ``user-event``, ``billing-event`` and other event kinds carry nothing to store and are
    skipped. Raises :class:`ChannelError` naming the JSON path for a body that is neither.
    """
    root = _object(payload, "$")
    if not root:
        # Gupshup checks a callback URL with an empty POST when it is set; nothing to parse.
        return [], []
    if root.get("object") == "whatsapp_business_account":
        # v3 statuses carry Gupshup's id (what its send API answered) in gs_id.
        return parse_cloud_webhook(payload, channel="gupshup", status_keys=("gs_id", "id"))
    kind = _text(root, "type", "")
    if kind == "message":
        return [_message(root)], []
    if kind == "message-event":
        status = _event(root)
        return [], [status] if status is not None else []
    return [], []


def _message(root: dict[str, Any]) -> InboundMessage:
    inner = _object(root.get("payload"), "payload")
    external_id = _text(inner, "id", "payload")
    kind = _text(inner, "type", "payload")
    sender = inner.get("sender")
    sender = sender if isinstance(sender, dict) else {}
    phone = _optional_text(sender.get("phone")) or _optional_text(inner.get("source"))
    if phone is None:
        raise ChannelError("payload.sender.phone", "required")
    phone = sender_address(phone, "payload.sender.phone")
    content = inner.get("payload")
    content = content if isinstance(content, dict) else {}
    payload: dict[str, Any] = {"type": kind, "message": inner}
    context = inner.get("context")
    if isinstance(context, dict) and (context.get("gsId") or context.get("id")):
        payload["context_id"] = _str(context.get("gsId") or context.get("id"))
    text, attachments = _content(kind, content, payload)
    name = _optional_text(sender.get("name"))
    return InboundMessage(
        channel="gupshup",
        external_id=external_id,
        urn=f"whatsapp:{phone}",
        text=text,
        attachments=attachments,
        contact_name=name,
        phone=phone,
        timestamp=_timestamp(root.get("timestamp")),
        payload=payload,
    )


def _content(kind: str, content: dict[str, Any], payload: dict[str, Any]) -> tuple[str, list[str]]:
    if kind == "text":
        return _str(content.get("text")), []
    if kind in MEDIA_TYPES:
        url = _optional_text(content.get("url"))
        caption = _str(content.get("caption"))
        if url is None:
            return caption, []
        mime = _str(content.get("contentType") or content.get("content-type"))
        # "audio/ogg; codecs=opus" -> "audio/ogg", as the Cloud adapter does.
        base = mime.split(";", 1)[0].strip() or _guess_mime(kind, url)
        payload["mime_type"] = mime or base
        if content.get("urlExpiry") is not None:
            # Gupshup's media links expire (in days): whoever needs the bytes fetches them soon.
            payload["url_expiry"] = content["urlExpiry"]
        return caption, [f"{base}:{url}"]
    if kind == "location":
        lat, lng = content.get("latitude"), content.get("longitude")
        label = ", ".join(_str(content.get(k)) for k in ("name", "address") if content.get(k))
        if _is_number(lat) and _is_number(lng):
            return label, [f"geo:{lat},{lng}"]
        return label, []
    if kind in ("button_reply", "list_reply"):
        reply_id = content.get("postbackText") or content.get("id")
        if reply_id is not None:
            payload["reply_id"] = _str(reply_id)
        return _str(content.get("title") or content.get("text")), []
    if kind == "quick_reply":
        # A template's quick-reply button: the text the user saw, and our postback if we set one.
        if content.get("postbackText") is not None:
            payload["reply_id"] = _str(content.get("postbackText"))
        return _str(content.get("text") or content.get("title")), []
    # contact, and types Gupshup adds later: kept, with the raw message in the payload.
    return "", []


def _guess_mime(kind: str, url: str) -> str:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    if guessed:
        return guessed
    return {"image": "image/jpeg", "sticker": "image/webp", "audio": "audio/ogg"}.get(
        kind, "video/mp4" if kind == "video" else "application/octet-stream"
    )


def _event(root: dict[str, Any]) -> StatusUpdate | None:
    inner = _object(root.get("payload"), "payload")
    state = _text(inner, "type", "payload")
    # Sent/delivered/read carry WhatsApp's id in "id" and Gupshup's in "gsId"; enqueued and
    # failed carry Gupshup's in "id". Our store knows Gupshup's: the send API answered with it.
    key = _optional_text(inner.get("gsId")) or _optional_text(inner.get("gs_id"))
    external_id = key or _text(inner, "id", "payload")
    if state not in STATUSES:
        # "enqueued" only says Gupshup accepted it, which the send's answer already did.
        return None
    error: str | None = None
    if state == "failed":
        details = inner.get("payload")
        details = details if isinstance(details, dict) else {}
        code, reason = details.get("code"), _str(details.get("reason"))
        error = f"{code}: {reason}" if code is not None and reason else reason or None
        if error is None and code is not None:
            error = str(code)
    return StatusUpdate(
        channel="gupshup", external_id=external_id, status=cast(_Status, state), error=error
    )


# --- sending --------------------------------------------------------------------------------


class _Unsendable(ValueError):
    """The outbound message cannot be expressed in Gupshup's format."""


class Gupshup:
    """Sends through Gupshup's ``/wa/api/v1/msg`` (form-encoded, ``apikey`` header).

    Gupshup answers a send with its own message id at once; delivery news arrives later as
    ``message-event`` callbacks keyed by that id. The API key is scrubbed from every error.
    """

    name = "gupshup"

    def __init__(
        self,
        api_key: str,
        app_name: str,
        source_number: str,
        api_url: str = GUPSHUP_API_URL,
        http: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        list_button: str = "Options",
    ) -> None:
        self._api_key = api_key
        self.app_name = app_name
        self.source_number = source_number.lstrip("+")
        self.api_url = api_url.rstrip("/")
        self._http = http or async_client(timeout=timeout)
        self._owns_http = http is None
        self.timeout = timeout
        self.list_button = _fit(list_button, LIST_BUTTON_MAX) or "Options"

    def __repr__(self) -> str:  # keeps the key out of reprs in tracebacks and logs
        return f"Gupshup(app_name={self.app_name!r}, api_url={self.api_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one outbound message (several Gupshup messages for several attachments).

        A failure after the first part went out is reported without ``retry_after``, so the
        caller does not repeat what the contact already received.
        """
        try:
            parts = self.build_requests(message)
        except _Unsendable as exc:
            return SendResult(error=f"cannot send: {exc}")
        first_id: str | None = None
        for index, (path, form) in enumerate(parts):
            result = await self._post(path, form)
            if not result.ok:
                if index == 0:
                    return result
                return SendResult(
                    external_id=first_id,
                    error=f"sent {index} of {len(parts)} parts, then {result.error}",
                )
            first_id = first_id or result.external_id
        return SendResult(external_id=first_id)

    def build_requests(self, message: OutboundMessage) -> list[tuple[str, dict[str, str]]]:
        """``(path, form fields)`` of each request that carries ``message``, in order.

        Raises ValueError for a message Gupshup cannot carry (empty, template without an id).
        """
        to = message.to.removeprefix("whatsapp:").strip().lstrip("+")
        if not to:
            raise _Unsendable("no recipient")
        attachments = [parse_attachment(a) for a in message.attachments if a.strip()]
        if message.template is not None:
            return [self._template_request(to, message.template)]
        if message.interactive is not None:
            return [self._msg(to, _glific(message.interactive, message.text))]
        if message.quick_replies:
            header = _header_media(attachments)
            rest = [a for a in attachments if a is not header]
            parts = [self._msg(to, _media(a, None)) for a in rest]
            parts.append(self._msg(to, self._choices(message.text, message.quick_replies, header)))
            return parts
        if attachments:
            return self._media_requests(to, message.text, attachments)
        if not message.text.strip():
            raise _Unsendable("the message is empty")
        return [self._msg(to, {"type": "text", "text": c}) for c in _chunks(message.text, TEXT_MAX)]

    def _form(self, to: str) -> dict[str, str]:
        return {
            "channel": "whatsapp",
            "source": self.source_number,
            "destination": to,
            "src.name": self.app_name,
        }

    def _msg(self, to: str, message: dict[str, Any]) -> tuple[str, dict[str, str]]:
        return "/wa/api/v1/msg", {**self._form(to), "message": _dump(message)}

    def _template_request(self, to: str, template: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """Gupshup sends templates by its own template id, with positional parameters.

        ``template`` is ``{"id", "params"}``, or the WhatsApp shape (``components``) plus an
        ``id``: the body component's text parameters become ``params``. A template name alone
        cannot be sent, since Gupshup has no send-by-name.
        """
        template_id = _optional_text(template.get("id"))
        if template_id is None:
            raise _Unsendable("Gupshup sends templates by their Gupshup template id")
        params = template.get("params")
        if not isinstance(params, list):
            params = [
                _str(p.get("text"))
                for c in _dicts(template.get("components"))
                if _str(c.get("type")).lower() == "body"
                for p in _dicts(c.get("parameters"))
            ]
        return "/wa/api/v1/template/msg", {
            **self._form(to),
            "template": _dump({"id": template_id, "params": [_str(p) for p in params]}),
        }

    def _media_requests(
        self, to: str, text: str, attachments: list[Attachment]
    ) -> list[tuple[str, dict[str, str]]]:
        captioned = next((a for a in attachments if a.kind in ("image", "video", "document")), None)
        parts: list[tuple[str, dict[str, str]]] = []
        if text.strip() and (captioned is None or len(text) > CAPTION_MAX):
            # Audio and stickers take no caption: the words go first, as a message of their own.
            parts.extend(
                self._msg(to, {"type": "text", "text": c}) for c in _chunks(text, TEXT_MAX)
            )
            captioned = None
        for attachment in attachments:
            parts.append(
                self._msg(to, _media(attachment, text if attachment is captioned else None))
            )
        return parts

    def _choices(self, text: str, choices: list[str], header: Attachment | None) -> dict[str, Any]:
        if not text.strip():
            raise _Unsendable("interactive messages need a body text")
        titles = [c for c in (c.strip() for c in choices) if c]
        if not titles:
            raise _Unsendable("no quick replies")
        if len(titles) <= MAX_BUTTONS:
            content: dict[str, Any]
            if header is not None:
                content = {
                    "type": "file" if header.kind == "document" else header.kind,
                    "url": header.ref,
                    "caption": _fit(text, INTERACTIVE_BODY_MAX),
                }
                if header.kind == "document" and header.filename:
                    content["filename"] = header.filename
            else:
                content = {"type": "text", "text": _fit(text, INTERACTIVE_BODY_MAX)}
            return {
                "type": "quick_reply",
                "msgid": _msgid("qr", text, titles),
                "content": content,
                "options": [{"type": "text", "title": _fit(t, BUTTON_TITLE_MAX)} for t in titles],
            }
        if len(titles) > MAX_ROWS:
            log.warning(
                "a list message holds %d rows; %d choices dropped", MAX_ROWS, len(titles) - MAX_ROWS
            )
            titles = titles[:MAX_ROWS]
        options = []
        for title in titles:
            option: dict[str, Any] = {
                "type": "text",
                "title": _fit(title, ROW_TITLE_MAX),
                "postbackText": title,
            }
            if len(title) > ROW_TITLE_MAX:
                # A title cut to 24 characters keeps its full wording in the description.
                option["description"] = _fit(title, ROW_DESCRIPTION_MAX)
            options.append(option)
        return {
            "type": "list",
            # Gupshup requires a list title; the button label is the least surprising one.
            "title": self.list_button,
            "body": _fit(text, INTERACTIVE_BODY_MAX),
            "msgid": _msgid("list", text, titles),
            "globalButtons": [{"type": "text", "title": self.list_button}],
            "items": [{"title": self.list_button, "options": options}],
        }

    async def _post(self, path: str, form: dict[str, str]) -> SendResult:
        try:
            response = await self._http.post(
                f"{self.api_url}{path}",
                data=form,
                headers={"apikey": self._api_key},
                timeout=self.timeout,
            )
        except httpx.TransportError as exc:
            # A timeout may come after Gupshup accepted the message, and Gupshup has no
            # idempotency key, so a retry can rarely duplicate; losing the message is worse.
            error = self._scrub(f"network error: {type(exc).__name__}: {exc}")
            log.warning("gupshup send: %s", error)
            return SendResult(error=error, retry_after=RETRY_AFTER_NETWORK)
        answer = _json(response)
        answer = answer if isinstance(answer, dict) else {}
        status = _str(answer.get("status")).lower()
        if response.is_success and status != "error":
            message_id = _optional_text(answer.get("messageId"))
            if message_id is None:
                # Accepted but unreadable: do not retry, the contact may already have it.
                return SendResult(error=f"HTTP {response.status_code}: answer has no messageId")
            return SendResult(external_id=message_id)
        detail = _str(answer.get("message"))
        if not detail and not answer:
            detail = response.text.strip().replace("\n", " ")[:200]
        error = self._scrub(f"HTTP {response.status_code}" + (f": {detail}" if detail else ""))
        retry_after: float | None = None
        if response.status_code == 429:
            retry_after = _retry_after_header(response) or RETRY_AFTER_HTTP_429
        elif response.status_code >= 500:
            retry_after = RETRY_AFTER_SERVER_ERROR
        log.warning("gupshup send: %s", error)
        return SendResult(error=error, retry_after=retry_after)


def _glific(interactive: dict[str, Any], text: str) -> dict[str, Any]:
    """Glific's interactive content is Gupshup's own format: pass it on, with a msgid."""
    kind = interactive.get("type")
    if kind not in ("quick_reply", "list", "location_request_message"):
        raise _Unsendable(f"unsupported interactive type {kind!r}")
    out = dict(interactive)
    if kind == "quick_reply":
        content = out.get("content")
        content = dict(content) if isinstance(content, dict) else {"type": "text"}
        # Media quick replies carry their words as a caption, text ones as text.
        key = "text" if content.get("type", "text") == "text" else "caption"
        if not content.get(key):
            if not text.strip():
                raise _Unsendable("interactive messages need a body text")
            content[key] = text
        out["content"] = content
    if kind == "list" and not out.get("body"):
        if not text.strip():
            raise _Unsendable("interactive messages need a body text")
        out["body"] = text
    if kind in ("quick_reply", "list") and not out.get("msgid"):
        out["msgid"] = _msgid(kind, _dump(interactive), [])
    return out


def _header_media(attachments: list[Attachment]) -> Attachment | None:
    if len(attachments) == 1 and attachments[0].kind in ("image", "video", "document"):
        return attachments[0]
    return None


def _media(attachment: Attachment, caption: str | None) -> dict[str, Any]:
    if not attachment.is_url:
        raise _Unsendable(f"Gupshup sends media by URL, not {attachment.ref!r}")
    url = attachment.ref
    media: dict[str, Any]
    if attachment.kind == "image":
        media = {"type": "image", "originalUrl": url, "previewUrl": url}
    elif attachment.kind == "document":
        media = {"type": "file", "url": url, "filename": attachment.filename or "file"}
    else:
        media = {"type": attachment.kind, "url": url}
    if caption and attachment.kind in ("image", "video", "document"):
        media["caption"] = caption
    return media


def _msgid(prefix: str, text: str, titles: list[str]) -> str:
    """A stable id for an interactive message; Gupshup echoes it back in the user's reply."""
    digest = hashlib.sha256("\x1f".join([text, *titles]).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
