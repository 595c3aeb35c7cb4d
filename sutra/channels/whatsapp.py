"""WhatsApp Cloud API (Meta): webhook signature and handshake, webhook parsing, sending.

A thin httpx client on purpose: the webhook route stores each message durably keyed on its
``wamid`` before anything else happens, so an in-process duplicate filter (what SDKs offer) would
add nothing, and the payload shapes below are all this platform needs.

Inbound messages become :class:`InboundMessage` with the urn ``whatsapp:<from>`` (the same scheme
the Gupshup adapter uses, so a contact stays one person whichever provider an NGO picks). The
``payload`` of every message keeps the raw WhatsApp message under ``"message"`` plus a few
normalised keys: ``type``, ``phone_number_id``, ``user_id`` (the business-scoped id, when sent),
``reply_id`` (the id of a tapped button or list row, or a template button's payload),
``media_id``/``mime_type`` for media, and ``error``/``errors`` when WhatsApp reports a problem with
the message (an unsupported type, say).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import mimetypes
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import quote, urlsplit

import httpx

from sutra.channels.base import (
    ChannelError,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    sender_address,
)
from sutra.http import async_client

log = logging.getLogger(__name__)

GRAPH_API_URL = "https://graph.facebook.com/v21.0"

# Limits of the Cloud API; a message over any of them is refused as a whole, so we fit to them.
TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
CAPTION_MAX = 1024
HEADER_TEXT_MAX = 60
MAX_BUTTONS = 3
BUTTON_TITLE_MAX = 20
REPLY_ID_MAX = 256
MAX_ROWS = 10
MAX_SECTIONS = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
SECTION_TITLE_MAX = 24
LIST_BUTTON_MAX = 20

STATUSES = frozenset({"sent", "delivered", "read", "failed"})
_Status = Literal["sent", "delivered", "read", "failed"]
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")

# Seconds to wait before retrying, per Graph API error code. 130429: the number's throughput
# (80 msg/s by default); 131056: the pair limit (about one message per 6 s to one recipient);
# 131048 and 80007: spam and account rate limits, which only ease after minutes; 4: the app's
# call limit; 1 and 2: Meta's own "temporary, retry" errors.
RETRY_AFTER_BY_CODE: dict[int, float] = {
    130429: 1.0,
    131056: 6.0,
    131048: 60.0,
    80007: 60.0,
    4: 60.0,
    1: 5.0,
    2: 5.0,
}
RETRY_AFTER_HTTP_429 = 5.0
RETRY_AFTER_SERVER_ERROR = 5.0
RETRY_AFTER_NETWORK = 5.0

_URL = re.compile(r"https?://", re.IGNORECASE)
# A business-scoped user id: country code, a dot, then letters and digits ("US.1349120865530").
_BSUID = re.compile(r"[A-Za-z]{2}\.[A-Za-z0-9.]+")


# --- webhook security -----------------------------------------------------------------------


def verify_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body under the app secret.

    Checked on the bytes as received: re-serialised JSON would not hash the same.

    >>> header = "sha256=" + hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()
    >>> verify_signature("s3cret", b"{}", header), verify_signature("other", b"{}", header)
    (True, False)
    """
    if not app_secret or not header:
        return False
    scheme, sep, digest = header.strip().partition("=")
    digest = digest.strip().lower()
    if sep != "=" or scheme.strip().lower() != "sha256":
        return False
    # compare_digest on str needs ASCII; a real signature is 64 hex digits anyway.
    if len(digest) != 64 or any(c not in string.hexdigits for c in digest):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)


def verify_handshake(params: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo when Meta's subscription handshake carries our verify token.

    >>> verify_handshake({"hub.mode": "subscribe", "hub.verify_token": "t",
    ...                   "hub.challenge": "1158201444"}, "t")
    '1158201444'
    >>> verify_handshake({"hub.mode": "subscribe", "hub.verify_token": "x",
    ...                   "hub.challenge": "1"}, "t") is None
    True
    """
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if not isinstance(token, str) or not isinstance(challenge, str) or not challenge:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge


# --- webhook parsing ------------------------------------------------------------------------


def parse_webhook(payload: Any) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Every message and status in a (possibly batched) Cloud API webhook.

    Changes for other subscription fields (template status updates, account updates...) are
    skipped. Raises :class:`ChannelError` naming the JSON path when the body is not a WhatsApp
    webhook at all.
    """
    return parse_cloud_webhook(payload, channel="whatsapp")


def parse_cloud_webhook(
    payload: Any, *, channel: str, status_keys: tuple[str, ...] = ("id",)
) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """:func:`parse_webhook` for any provider that forwards Meta's format unchanged.

    ``status_keys`` picks the field a status is keyed by, first present wins: Gupshup's v3
    callbacks carry its own message id (the one its send API answered with) in ``gs_id``.
    """
    root = _object(payload, "$")
    kind = root.get("object")
    if kind != "whatsapp_business_account":
        raise ChannelError(
            "object", "required" if kind is None else "expected whatsapp_business_account"
        )
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for i, entry in enumerate(_list(root, "entry", "entry")):
        entry_path = f"entry[{i}]"
        entry = _object(entry, entry_path)
        for j, change in enumerate(_list(entry, "changes", f"{entry_path}.changes")):
            change_path = f"{entry_path}.changes[{j}]"
            change = _object(change, change_path)
            field = change.get("field")
            if field is not None and field != "messages":
                continue
            value_path = f"{change_path}.value"
            value = _object(change.get("value"), value_path)
            messages.extend(_messages(value, value_path, channel))
            statuses.extend(_statuses(value, value_path, channel, status_keys))
    return messages, statuses


def _messages(value: dict[str, Any], path: str, channel: str) -> Iterable[InboundMessage]:
    raw_messages = value.get("messages")
    if raw_messages is None:
        return
    metadata = value.get("metadata")
    phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    names = _contact_names(value.get("contacts"))
    for k, raw in enumerate(_list(value, "messages", f"{path}.messages")):
        yield _message(raw, f"{path}.messages[{k}]", channel, names, phone_number_id)


def _contact_names(contacts: Any) -> dict[str, str]:
    """Profile names by every key a contact can be matched on: wa_id and user_id.

    Usernames let a user hide their number, in which case Meta sends only the business-scoped
    ``user_id``, so the phone number cannot be the only key.
    """
    names: dict[str, str] = {}
    if not isinstance(contacts, list):
        return names
    for contact in contacts:
        if not isinstance(contact, dict):
            continue
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if not isinstance(name, str) or not name:
            continue
        for key in ("wa_id", "user_id"):
            if isinstance(contact.get(key), str | int):
                names[str(contact[key])] = name
    return names


def _message(
    raw: Any, path: str, channel: str, names: dict[str, str], phone_number_id: Any
) -> InboundMessage:
    msg = _object(raw, path)
    phone = _optional_text(msg.get("from"))
    user_id = _optional_text(msg.get("from_user_id"))
    sender = phone or user_id
    if sender is None:
        raise ChannelError(f"{path}.from", "required")
    sender = sender_address(sender, f"{path}.from" if phone else f"{path}.from_user_id")
    wamid = _text(msg, "id", path)
    kind = _text(msg, "type", path)
    payload: dict[str, Any] = {"type": kind, "message": msg}
    if phone_number_id is not None:
        payload["phone_number_id"] = phone_number_id
    if user_id is not None:
        payload["user_id"] = user_id
    text, attachments = _content(msg, kind, payload)
    errors = msg.get("errors")
    if isinstance(errors, list) and errors:
        payload["errors"] = errors
        payload["error"] = "; ".join(_error_text(e) for e in errors)
    return InboundMessage(
        channel=channel,
        external_id=wamid,
        urn=f"whatsapp:{sender}",
        text=text,
        attachments=attachments,
        contact_name=names.get(phone or "") or names.get(user_id or ""),
        phone=phone.lstrip("+") if phone else None,
        timestamp=_timestamp(msg.get("timestamp")),
        payload=payload,
    )


def _content(msg: dict[str, Any], kind: str, payload: dict[str, Any]) -> tuple[str, list[str]]:
    """The text and attachments of one message; lenient, since the envelope is already valid."""
    body = msg.get(kind)
    body = body if isinstance(body, dict) else {}
    if kind == "text":
        return _str(body.get("body")), []
    if kind == "interactive":
        reply_type = _str(body.get("type"))
        reply = body.get(reply_type)
        if reply_type in ("button_reply", "list_reply") and isinstance(reply, dict):
            if reply.get("id") is not None:
                payload["reply_id"] = _str(reply.get("id"))
            if reply.get("description"):
                payload["description"] = _str(reply.get("description"))
            return _str(reply.get("title")), []
        return "", []
    if kind == "button":
        # A template's quick-reply button: the text is what the user saw, the payload ours.
        if body.get("payload") is not None:
            payload["reply_id"] = _str(body.get("payload"))
        return _str(body.get("text")), []
    if kind in MEDIA_TYPES:
        media_id = _optional_text(body.get("id"))
        mime = _str(body.get("mime_type"))
        if media_id is None:
            return _str(body.get("caption")), []
        payload["media_id"] = media_id
        if mime:
            payload["mime_type"] = mime
        if body.get("filename"):
            payload["filename"] = _str(body.get("filename"))
        # "audio/ogg; codecs=opus" -> "audio/ogg": parameters would muddle the "mime:id" form.
        base = mime.split(";", 1)[0].strip() or _DEFAULT_MIME[kind]
        return _str(body.get("caption")), [f"{base}:{media_id}"]
    if kind == "location":
        lat, lng = body.get("latitude"), body.get("longitude")
        label = ", ".join(_str(body.get(k)) for k in ("name", "address") if body.get(k))
        if _is_number(lat) and _is_number(lng):
            return label, [f"geo:{lat},{lng}"]
        return label, []
    # contacts, reaction, order, system, unsupported, and whatever Meta adds next: kept, the
    # raw message in the payload, so a flow can still route on "anything" without losing it.
    return "", []


_DEFAULT_MIME = {
    "image": "image/jpeg",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}


def _statuses(
    value: dict[str, Any], path: str, channel: str, status_keys: tuple[str, ...]
) -> Iterable[StatusUpdate]:
    if value.get("statuses") is None:
        return
    for k, raw in enumerate(_list(value, "statuses", f"{path}.statuses")):
        status_path = f"{path}.statuses[{k}]"
        item = _object(raw, status_path)
        state = _text(item, "status", status_path)
        external_id = next(
            (str(item[key]) for key in status_keys if _optional_text(item.get(key))), None
        )
        if external_id is None:
            raise ChannelError(f"{status_path}.{status_keys[-1]}", "required")
        # "deleted", "warning", "enqueued" (Gupshup) and other states are not ours to store.
        if state not in STATUSES:
            continue
        errors = item.get("errors")
        error = (
            "; ".join(_error_text(e) for e in errors)
            if isinstance(errors, list) and errors
            else None
        )
        reference = item.get("biz_opaque_callback_data")
        yield StatusUpdate(
            channel=channel,
            external_id=external_id,
            status=cast(_Status, state),
            error=error,
            reference=reference if isinstance(reference, str) and reference else None,
        )


def _error_text(error: Any) -> str:
    """``"<code>: <title> (<details>)"`` for an entry of a webhook ``errors`` array."""
    if not isinstance(error, dict):
        return str(error)
    code = error.get("code")
    title = _str(error.get("title") or error.get("message")) or "error"
    data = error.get("error_data")
    details = _str(data.get("details")) if isinstance(data, dict) else ""
    text = f"{code}: {title}" if code is not None else title
    return f"{text} ({details})" if details and details != title else text


# --- small JSON helpers ---------------------------------------------------------------------


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise ChannelError(path, "required")
    if not isinstance(value, dict):
        raise ChannelError(path, f"expected an object, got {type(value).__name__}")
    return value


def _list(container: dict[str, Any], key: str, path: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        raise ChannelError(path, "required")
    if not isinstance(value, list):
        raise ChannelError(path, f"expected an array, got {type(value).__name__}")
    return value


def _text(container: dict[str, Any], key: str, path: str) -> str:
    """The string at ``key``; ``path`` names ``container`` ("" for the document's root)."""
    where = f"{path}.{key}" if path else key
    value = container.get(key)
    if value is None:
        raise ChannelError(where, "required")
    text = _optional_text(value)
    if text is None:
        raise ChannelError(where, "expected a non-empty string")
    return text


def _optional_text(value: Any) -> str | None:
    """A non-empty string, accepting numbers too (ids and phone numbers arrive as either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def _timestamp(value: Any) -> float | None:
    """Unix seconds from a string or number; values in milliseconds (Gupshup v3) are scaled."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds / 1000 if seconds > 1e11 else seconds


# --- sending --------------------------------------------------------------------------------


class WhatsAppAPIError(RuntimeError):
    """A Graph API call other than a send failed (sends answer with a :class:`SendResult`)."""

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class _Unsendable(ValueError):
    """The outbound message cannot be expressed in the Cloud API's format."""


@dataclass(frozen=True)
class Attachment:
    """An outbound attachment, from RapidPro's ``"<mime or kind>:<url or media id>"`` form."""

    kind: str  # image | audio | video | document | sticker
    mime: str | None
    ref: str  # an http(s) URL or a WhatsApp media id

    @property
    def is_url(self) -> bool:
        return bool(_URL.match(self.ref))

    @property
    def filename(self) -> str | None:
        if not self.is_url:
            return None
        name = urlsplit(self.ref).path.rsplit("/", 1)[-1]
        return name or None


def parse_attachment(attachment: str) -> Attachment:
    """Split ``"image/jpeg:https://..."``, ``"image:https://..."`` or a bare URL.

    >>> parse_attachment("application/pdf:https://x.org/a/report.pdf")
    Attachment(kind='document', mime='application/pdf', ref='https://x.org/a/report.pdf')
    >>> parse_attachment("https://x.org/cat.png").kind, parse_attachment("https://x.org/a").kind
    ('image', 'document')
    """
    prefix, sep, ref = attachment.strip().partition(":")
    if not sep or prefix.lower() in ("http", "https") or ref.startswith("//"):
        return _untyped(attachment.strip())
    prefix = prefix.strip().lower()
    if prefix == "expression":
        # The flow editor's "expression" attachment: its value is the URL (Glific's
        # voice-filesearch-gpt's @results.x.media_url), maybe itself typed.
        return parse_attachment(ref.strip()) if ref.strip() else _untyped(ref)
    major, slash, _ = prefix.partition("/")
    mime = prefix if slash else None
    # Anything else ("document", "file", "application/pdf", "text/csv"...) goes as a document.
    kind = major if major in ("image", "audio", "video", "sticker") else "document"
    return Attachment(kind, mime, ref.strip())


def _untyped(url: str) -> Attachment:
    """A URL with no type: the type its extension names, else a document (the one kind
    WhatsApp accepts for any file).

    >>> _untyped("https://x.org/media/ab.ogg"), _untyped("https://x.org/f").kind
    (Attachment(kind='audio', mime='audio/ogg', ref='https://x.org/media/ab.ogg'), 'document')
    """
    mime = mimetypes.guess_type(urlsplit(url).path)[0] if _URL.match(url) else None
    major = (mime or "").partition("/")[0]
    if major in ("image", "audio", "video"):
        return Attachment(major, mime, url)
    return Attachment("document", None, url)


class WhatsAppCloud:
    """Sends through ``POST {api_url}/{phone_number_id}/messages`` with the access token.

    ``http`` lets the app share one connection pool; without it the channel makes its own, which
    :meth:`aclose` closes. The token is sent only in the ``Authorization`` header and is scrubbed
    from every error text and log line.
    """

    name = "whatsapp"

    def __init__(
        self,
        access_token: str,
        phone_number_id: str,
        api_url: str = GRAPH_API_URL,
        http: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        list_button: str = "Options",
        max_media_bytes: int = 100 * 1024 * 1024,
    ) -> None:
        self._token = access_token
        self.phone_number_id = phone_number_id
        self.api_url = api_url.rstrip("/")
        self._http = http or async_client(timeout=timeout)
        self._owns_http = http is None
        self.timeout = timeout
        # The label of the button that opens a list, when quick replies become a list.
        self.list_button = _fit(list_button, LIST_BUTTON_MAX) or "Options"
        self.max_media_bytes = max_media_bytes

    def __repr__(self) -> str:  # keeps the token out of reprs in tracebacks and logs
        return f"WhatsAppCloud(phone_number_id={self.phone_number_id!r}, api_url={self.api_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    # -- send --------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one outbound message; it may take several WhatsApp messages (attachments).

        With several parts, a failure after the first part was sent is reported without
        ``retry_after``: retrying the whole message would repeat what the contact already got.
        """
        try:
            bodies = self.build_bodies(message)
        except _Unsendable as exc:
            return SendResult(error=f"cannot send: {exc}")
        if message.reference:
            # Echoed in every status of the message: a send whose answer was lost (a crash
            # right after it) is still recognised when its "sent" status comes in.
            for body in bodies:
                body["biz_opaque_callback_data"] = message.reference[:512]
        first_id: str | None = None
        for index, body in enumerate(bodies):
            result = await self._post_message(body)
            if not result.ok:
                if index == 0:
                    return result
                return SendResult(
                    external_id=first_id,
                    error=f"sent {index} of {len(bodies)} parts, then {result.error}",
                )
            first_id = first_id or result.external_id
        return SendResult(external_id=first_id)

    def build_bodies(self, message: OutboundMessage) -> list[dict[str, Any]]:
        """The JSON bodies, in sending order, that carry ``message`` (no I/O: for tests too).

        Raises ValueError for a message WhatsApp cannot carry (empty, unknown interactive type).
        """
        to = message.to.removeprefix("whatsapp:").strip()
        if not to:
            raise _Unsendable("no recipient")
        attachments = [parse_attachment(a) for a in message.attachments if a.strip()]
        if message.template is not None:
            return [self._envelope(to, "template", _template(message.template))]
        if message.interactive is not None:
            return [self._envelope(to, "interactive", self._glific(message.interactive, message))]
        if message.quick_replies:
            header_media = _header_media(attachments)
            rest = [a for a in attachments if a is not header_media]
            bodies = [self._media_body(to, a, None) for a in rest]
            interactive = self._choices(message.text, message.quick_replies, header_media)
            return [*bodies, self._envelope(to, "interactive", interactive)]
        if attachments:
            return self._media_bodies(to, message.text, attachments)
        if not message.text.strip():
            raise _Unsendable("the message is empty")
        return [self._text_body(to, chunk) for chunk in _chunks(message.text, TEXT_MAX)]

    def _envelope(self, to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        # A contact known only by business-scoped id (phone hidden behind a username) is
        # addressed with "recipient"; "to" takes phone numbers only.
        address = "recipient" if _BSUID.fullmatch(to) else "to"
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            address: to,
            "type": kind,
            kind: content,
        }

    def _text_body(self, to: str, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"body": text}
        if _URL.search(text):
            content["preview_url"] = True
        return self._envelope(to, "text", content)

    def _media_body(self, to: str, attachment: Attachment, caption: str | None) -> dict[str, Any]:
        media: dict[str, Any] = (
            {"link": attachment.ref} if attachment.is_url else {"id": attachment.ref}
        )
        if caption:
            media["caption"] = caption
        if attachment.kind == "document" and attachment.filename:
            media["filename"] = attachment.filename
        return self._envelope(to, attachment.kind, media)

    def _media_bodies(
        self, to: str, text: str, attachments: list[Attachment]
    ) -> list[dict[str, Any]]:
        """Media messages, the text riding as the first caption when a caption can hold it."""
        captioned = next((a for a in attachments if a.kind in ("image", "video", "document")), None)
        bodies: list[dict[str, Any]] = []
        if text.strip() and (captioned is None or len(text) > CAPTION_MAX):
            # Audio and stickers take no caption: the words go first, as a message of their own.
            bodies.extend(self._text_body(to, chunk) for chunk in _chunks(text, TEXT_MAX))
            captioned = None
        for attachment in attachments:
            caption = text if attachment is captioned else None
            bodies.append(self._media_body(to, attachment, caption))
        return bodies

    def _choices(
        self, text: str, choices: list[str], header_media: Attachment | None = None
    ) -> dict[str, Any]:
        """Reply buttons for up to three choices, a list message for more."""
        if not text.strip():
            raise _Unsendable("interactive messages need a body text")
        titles = [c for c in (c.strip() for c in choices) if c]
        if not titles:
            raise _Unsendable("no quick replies")
        if len(titles) <= MAX_BUTTONS:
            buttons = [
                {"type": "reply", "reply": {"id": reply_id, "title": _fit(title, BUTTON_TITLE_MAX)}}
                for reply_id, title in zip(_reply_ids(titles), titles, strict=True)
            ]
            interactive: dict[str, Any] = {"type": "button"}
            if header_media is not None:
                interactive["header"] = _media_header(header_media)
            interactive["body"] = {"text": _fit(text, INTERACTIVE_BODY_MAX)}
            interactive["action"] = {"buttons": buttons}
            return interactive
        if len(titles) > MAX_ROWS:
            log.warning(
                "a list message holds %d rows; %d choices dropped", MAX_ROWS, len(titles) - MAX_ROWS
            )
            titles = titles[:MAX_ROWS]
        return _list_message(text, self.list_button, None, [(None, [(t, None) for t in titles])])

    def _glific(self, interactive: dict[str, Any], message: OutboundMessage) -> dict[str, Any]:
        """A Glific interactive message (Gupshup's shape) in the Cloud API's shape."""
        kind = interactive.get("type")
        if kind == "quick_reply":
            content = interactive.get("content")
            content = content if isinstance(content, dict) else {}
            body = _str(content.get("text") or content.get("caption")) or message.text
            titles = [_str(o.get("title")) for o in _dicts(interactive.get("options"))]
            header: Attachment | None = None
            content_type = _str(content.get("type"))
            if content_type in ("image", "video", "file", "document") and content.get("url"):
                header = Attachment(
                    "document" if content_type in ("file", "document") else content_type,
                    None,
                    _str(content.get("url")),
                )
            result = self._choices(body, titles, header)
            header_text = _str(content.get("header")).strip()
            if header is None and header_text and result["type"] == "button":
                result = {
                    "type": "button",
                    "header": {"type": "text", "text": _fit(header_text, HEADER_TEXT_MAX)},
                    "body": result["body"],
                    "action": result["action"],
                }
            return result
        if kind == "list":
            body = _str(interactive.get("body")) or message.text
            if not body.strip():
                raise _Unsendable("interactive messages need a body text")
            buttons = _dicts(interactive.get("globalButtons"))
            label = _str(buttons[0].get("title")) if buttons else ""
            sections: list[tuple[str | None, list[tuple[str, str | None]]]] = []
            for item in _dicts(interactive.get("items")):
                rows = [
                    (_str(o.get("title")), _str(o.get("description")) or None)
                    for o in _dicts(item.get("options"))
                    if _str(o.get("title")).strip()
                ]
                if rows:
                    sections.append((_str(item.get("title")) or None, rows))
            if not sections:
                raise _Unsendable("a list message needs at least one option")
            title = _str(interactive.get("title")) or None
            return _list_message(body, label or self.list_button, title, sections)
        if kind == "location_request_message":
            body_field = interactive.get("body")
            body = (
                _str(body_field.get("text")) if isinstance(body_field, dict) else _str(body_field)
            ) or message.text
            if not body.strip():
                raise _Unsendable("interactive messages need a body text")
            return {
                "type": "location_request_message",
                "body": {"text": _fit(body, INTERACTIVE_BODY_MAX)},
                "action": {"name": "send_location"},
            }
        raise _Unsendable(f"unsupported interactive type {kind!r}")

    async def _post_message(self, body: dict[str, Any]) -> SendResult:
        url = f"{self.api_url}/{quote(self.phone_number_id, safe='')}/messages"
        try:
            response = await self._http.post(
                url, json=body, headers=self._headers, timeout=self.timeout
            )
        except httpx.TransportError as exc:
            # A timeout may come after WhatsApp accepted the message; the Cloud API has no
            # idempotency key, so a retry can rarely duplicate. Losing the message is worse.
            error = self._scrub(f"network error: {type(exc).__name__}: {exc}")
            log.warning("whatsapp send: %s", error)
            return SendResult(error=error, retry_after=RETRY_AFTER_NETWORK)
        if response.is_success:
            answer = _json(response)
            messages = answer.get("messages") if isinstance(answer, dict) else None
            wamid = (
                messages[0].get("id")
                if isinstance(messages, list) and messages and isinstance(messages[0], dict)
                else None
            )
            if not isinstance(wamid, str) or not wamid:
                # Accepted but unreadable: do not retry, the contact may already have it.
                return SendResult(error=f"HTTP {response.status_code}: answer has no message id")
            return SendResult(external_id=wamid)
        result = self._error_result(response)
        log.warning("whatsapp send: %s", result.error)
        return result

    def _error_result(self, response: httpx.Response) -> SendResult:
        status = response.status_code
        answer = _json(response)
        error = answer.get("error") if isinstance(answer, dict) else None
        retry_after: float | None = None
        if isinstance(error, dict):
            code = error.get("code")
            message = _str(error.get("message")) or "error"
            data = error.get("error_data")
            details = _str(data.get("details")) if isinstance(data, dict) else ""
            text = f"{code}: {message}" if code is not None else f"HTTP {status}: {message}"
            if details and details != message:
                text = f"{text} ({details})"
            if isinstance(code, int) and not isinstance(code, bool):
                retry_after = RETRY_AFTER_BY_CODE.get(code)
        else:
            snippet = response.text.strip().replace("\n", " ")[:200]
            text = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        if status == 429:
            retry_after = _retry_after_header(response) or retry_after or RETRY_AFTER_HTTP_429
        elif status >= 500 and retry_after is None:
            retry_after = RETRY_AFTER_SERVER_ERROR
        return SendResult(error=self._scrub(text), retry_after=retry_after)

    # -- media -------------------------------------------------------------------------------

    async def media_info(self, media_id: str) -> dict[str, Any]:
        """``GET /{media-id}``: ``{"url", "mime_type", "sha256", "file_size", "id"}``."""
        url = f"{self.api_url}/{quote(media_id, safe='')}"
        try:
            response = await self._http.get(url, headers=self._headers, timeout=self.timeout)
        except httpx.TransportError as exc:
            raise WhatsAppAPIError(
                self._scrub(f"network error: {type(exc).__name__}: {exc}"),
                retry_after=RETRY_AFTER_NETWORK,
            ) from None
        if not response.is_success:
            result = self._error_result(response)
            raise WhatsAppAPIError(result.error or "error", retry_after=result.retry_after)
        info = _json(response)
        if not isinstance(info, dict) or not isinstance(info.get("url"), str):
            raise WhatsAppAPIError(f"media {media_id}: the answer has no url")
        return info

    async def media_url(self, media_id: str) -> str:
        """A short-lived URL for an inbound media id; fetching it also needs the token."""
        return str((await self.media_info(media_id))["url"])

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """The bytes and MIME type of an inbound media id (at most ``max_media_bytes``)."""
        info = await self.media_info(media_id)
        try:
            async with self._http.stream(
                "GET", info["url"], headers=self._headers, timeout=self.timeout
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise WhatsAppAPIError(
                        self._scrub(f"media {media_id}: HTTP {response.status_code}"),
                        retry_after=RETRY_AFTER_SERVER_ERROR
                        if response.status_code >= 500
                        else None,
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_media_bytes:
                        raise WhatsAppAPIError(
                            f"media {media_id}: larger than {self.max_media_bytes} bytes"
                        )
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
        except httpx.TransportError as exc:
            raise WhatsAppAPIError(
                self._scrub(f"network error: {type(exc).__name__}: {exc}"),
                retry_after=RETRY_AFTER_NETWORK,
            ) from None
        mime = _str(info.get("mime_type")) or content_type or "application/octet-stream"
        return b"".join(chunks), mime


# --- outbound helpers -----------------------------------------------------------------------


def _fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _chunks(text: str, limit: int) -> list[str]:
    """Split a long text at whitespace (or hard, for a run without any) into ``limit`` pieces."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _reply_ids(titles: list[str]) -> list[str]:
    """Button and row ids: the full choice text (which a title may shorten), made unique."""
    seen: set[str] = set()
    ids: list[str] = []
    for index, title in enumerate(titles):
        reply_id = title[:REPLY_ID_MAX]
        if reply_id in seen:
            reply_id = f"{title[: REPLY_ID_MAX - 8]}#{index + 1}"
        seen.add(reply_id)
        ids.append(reply_id)
    return ids


def _list_message(
    body: str,
    button: str,
    title: str | None,
    sections: list[tuple[str | None, list[tuple[str, str | None]]]],
) -> dict[str, Any]:
    """An interactive list; rows past the Cloud API's ten are dropped with a warning."""
    all_titles = [t for _, rows in sections for t, _ in rows]
    ids = iter(_reply_ids(all_titles))
    out_sections: list[dict[str, Any]] = []
    budget = MAX_ROWS
    for section_title, rows in sections[:MAX_SECTIONS]:
        out_rows: list[dict[str, Any]] = []
        for row_title, description in rows:
            reply_id = next(ids)
            if budget == 0:
                continue
            budget -= 1
            row: dict[str, Any] = {"id": reply_id, "title": _fit(row_title, ROW_TITLE_MAX)}
            # A title cut to 24 characters keeps its full wording in the description.
            full = description or (
                row_title.strip() if len(row_title.strip()) > ROW_TITLE_MAX else ""
            )
            if full:
                row["description"] = _fit(full, ROW_DESCRIPTION_MAX)
            out_rows.append(row)
        if out_rows:
            section: dict[str, Any] = {"rows": out_rows}
            if section_title and section_title.strip():
                section["title"] = _fit(section_title, SECTION_TITLE_MAX)
            out_sections.append(section)
    if len(all_titles) > MAX_ROWS:
        log.warning(
            "a list message holds %d rows; %d dropped", MAX_ROWS, len(all_titles) - MAX_ROWS
        )
    if len(out_sections) > 1:
        # Several sections each need a title; fill missing ones rather than be refused.
        for number, section in enumerate(out_sections, start=1):
            section.setdefault("title", f"{number}")
    interactive: dict[str, Any] = {"type": "list"}
    if title and title.strip():
        interactive["header"] = {"type": "text", "text": _fit(title, HEADER_TEXT_MAX)}
    interactive["body"] = {"text": _fit(body, INTERACTIVE_BODY_MAX)}
    interactive["action"] = {"button": _fit(button, LIST_BUTTON_MAX), "sections": out_sections}
    return interactive


def _header_media(attachments: list[Attachment]) -> Attachment | None:
    """The attachment that can be a reply-button header: a lone image, video or document."""
    if len(attachments) == 1 and attachments[0].kind in ("image", "video", "document"):
        return attachments[0]
    return None


def _media_header(attachment: Attachment) -> dict[str, Any]:
    media: dict[str, Any] = (
        {"link": attachment.ref} if attachment.is_url else {"id": attachment.ref}
    )
    if attachment.kind == "document" and attachment.filename:
        media["filename"] = attachment.filename
    return {"type": attachment.kind, attachment.kind: media}


def _template(template: dict[str, Any]) -> dict[str, Any]:
    name = template.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _Unsendable("a template needs a name")
    language = template.get("language")
    if isinstance(language, str):  # "en" is a common shorthand for {"code": "en"}
        language = {"code": language}
    if not isinstance(language, dict) or not language.get("code"):
        raise _Unsendable("a template needs a language code")
    out: dict[str, Any] = {"name": name, "language": language}
    if template.get("components"):
        out["components"] = template["components"]
    return out


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None
