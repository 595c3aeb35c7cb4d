"""Gupshup adapter: callback parsing and sending against the loopback stand-in."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from sutra.channels.base import ChannelError, OutboundMessage, StatusUpdate
from sutra.channels.gupshup import Gupshup, parse_webhook
from sutra.testing.gupshup_api import (
    GupshupStubServer,
    gupshup_event_payload,
    gupshup_message_payload,
    gupshup_text_payload,
)

KEY = "gs-secret-api-key-0123456789"
APP = "ngo-helpline"
SOURCE = "917834811114"
USER = "919812345678"


# --- callback parsing -----------------------------------------------------------------------


def inbound(kind: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    payload = gupshup_message_payload(
        USER,
        kind,
        content,
        name="Asha",
        msg_id="ABEGkYaYVSEEAhAL3SLAWwHKeKrt6s3FKB0c",
        app=APP,
        timestamp_ms=1718007189549,
    )
    payload["payload"].update(extra)
    return payload


MEDIA_URL = "https://filemanager.gupshup.io/wa/23038a99/wa/media/2f997fea?download=false"

# (name, callback, text, attachments, payload subset)
INBOUND_CASES: list[tuple[str, dict[str, Any], str, list[str], dict[str, Any]]] = [
    ("text", inbound("text", {"text": "Hi"}), "Hi", [], {"type": "text"}),
    (
        "image",
        inbound(
            "image",
            {
                "caption": "Receipt",
                "url": MEDIA_URL,
                "contentType": "image/jpeg",
                "urlExpiry": 1718608420228,
            },
        ),
        "Receipt",
        [f"image/jpeg:{MEDIA_URL}"],
        {"url_expiry": 1718608420228},
    ),
    (
        "file",
        inbound(
            "file",
            {"caption": "", "name": "form.pdf", "url": MEDIA_URL, "contentType": "application/pdf"},
        ),
        "",
        [f"application/pdf:{MEDIA_URL}"],
        {"mime_type": "application/pdf"},
    ),
    (
        "voice note",
        inbound("audio", {"url": MEDIA_URL, "contentType": "audio/ogg; codecs=opus"}),
        "",
        [f"audio/ogg:{MEDIA_URL}"],
        {"mime_type": "audio/ogg; codecs=opus"},
    ),
    (
        "video",
        inbound("video", {"url": MEDIA_URL, "contentType": "video/mp4", "caption": "Look"}),
        "Look",
        [f"video/mp4:{MEDIA_URL}"],
        {},
    ),
    (
        "sticker without a content type",
        inbound("sticker", {"url": MEDIA_URL}),
        "",
        [f"image/webp:{MEDIA_URL}"],
        {"mime_type": "image/webp"},
    ),
    (
        "location",
        inbound("location", {"longitude": "77.2090", "latitude": "28.6139"}),
        "",
        ["geo:28.6139,77.2090"],
        {"type": "location"},
    ),
    (
        "named location",
        inbound(
            "location",
            {"longitude": 36.82, "latitude": -1.29, "name": "Clinic", "address": "Mombasa Rd"},
        ),
        "Clinic, Mombasa Rd",
        ["geo:-1.29,36.82"],
        {},
    ),
    (
        "button reply",
        inbound(
            "button_reply",
            {"title": "First", "id": "qr1", "reply": "First 1"},
            context={"id": "gBEGkYaYVSEEAgkv", "gsId": "123b0fb2-0620"},
        ),
        "First",
        [],
        {"reply_id": "qr1", "context_id": "123b0fb2-0620"},
    ),
    (
        "list reply",
        inbound(
            "list_reply",
            {
                "title": "section 1 row 1",
                "id": "list1",
                "reply": "section 1 row 1 1",
                "postbackText": "row-1-postback",
                "description": "first row",
            },
        ),
        "section 1 row 1",
        [],
        {"reply_id": "row-1-postback"},
    ),
    (
        "template quick reply",
        inbound(
            "quick_reply", {"text": "View Balance", "type": "button", "postbackText": "BALANCE"}
        ),
        "View Balance",
        [],
        {"reply_id": "BALANCE"},
    ),
    (
        "contact",
        inbound(
            "contact",
            {
                "contacts": [
                    {"name": {"formatted_name": "Ravi"}, "phones": [{"phone": "+91 98123 45678"}]}
                ]
            },
        ),
        "",
        [],
        {"type": "contact"},
    ),
]


@pytest.mark.parametrize(
    ("callback", "text", "attachments", "payload"),
    [case[1:] for case in INBOUND_CASES],
    ids=[case[0] for case in INBOUND_CASES],
)
def test_parses_every_inbound_type(
    callback: dict[str, Any], text: str, attachments: list[str], payload: dict[str, Any]
) -> None:
    messages, statuses = parse_webhook(callback)

    assert statuses == []
    [parsed] = messages
    assert parsed.channel == "gupshup"
    assert parsed.external_id == "ABEGkYaYVSEEAhAL3SLAWwHKeKrt6s3FKB0c"
    # The same urn as the WhatsApp Cloud adapter gives: one contact whichever provider.
    assert parsed.urn == f"whatsapp:{USER}"
    assert parsed.phone == USER
    assert parsed.contact_name == "Asha"
    assert parsed.timestamp == pytest.approx(1718007189.549)
    assert parsed.text == text
    assert parsed.attachments == attachments
    assert parsed.payload["message"] == callback["payload"]
    assert parsed.payload.items() >= payload.items()
    json.dumps(parsed.payload)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("sent", StatusUpdate("gupshup", "gs-1", "sent")),
        ("delivered", StatusUpdate("gupshup", "gs-1", "delivered")),
        ("read", StatusUpdate("gupshup", "gs-1", "read")),
        ("failed", StatusUpdate("gupshup", "gs-1", "failed", "1002: Number Does Not Exist")),
        ("enqueued", None),
        ("deleted", None),
    ],
)
def test_message_events_are_keyed_by_the_id_the_send_answered(
    status: str, expected: StatusUpdate | None
) -> None:
    event = gupshup_event_payload("gs-1", status, destination=USER, wa_id="gBEGkYaYVSEEAgnZxQ3J")

    messages, statuses = parse_webhook(event)

    assert messages == []
    assert statuses == ([expected] if expected else [])


def test_failed_event_without_a_code_keeps_the_reason() -> None:
    event = {
        "app": APP,
        "timestamp": 1,
        "version": 2,
        "type": "message-event",
        "payload": {
            "id": "gs-2",
            "type": "failed",
            "destination": USER,
            "payload": {"reason": "Message sent to opted out user"},
        },
    }
    assert parse_webhook(event) == (
        [],
        [StatusUpdate("gupshup", "gs-2", "failed", "Message sent to opted out user")],
    )


@pytest.mark.parametrize(
    "callback",
    [
        {
            "app": APP,
            "timestamp": 1,
            "version": 2,
            "type": "user-event",
            "payload": {"phone": USER, "type": "opted-in"},
        },
        {
            "app": APP,
            "timestamp": 1,
            "version": 2,
            "type": "billing-event",
            "payload": {"deductions": {"type": "service", "model": "CBP", "billable": False}},
        },
        {},
    ],
    ids=["user-event", "billing-event", "url check"],
)
def test_events_without_messages_are_ignored(callback: dict[str, Any]) -> None:
    assert parse_webhook(callback) == ([], [])


def test_v3_callbacks_in_meta_format_are_understood() -> None:
    callback = {
        "object": "whatsapp_business_account",
        "gs_app_id": "82ed52f4-30c0-4f12-81b4-e7ad07bd41de",
        "entry": [
            {
                "id": "112535025189792",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "contacts": [{"profile": {"name": "Asha"}, "wa_id": USER}],
                            "messages": [
                                {
                                    "from": USER,
                                    "id": "wamid.IN",
                                    "type": "text",
                                    "timestamp": "1710930461",
                                    "text": {"body": "Hi"},
                                }
                            ],
                            "statuses": [
                                {
                                    "gs_id": "2baff204-c39a",
                                    "id": "wamid.OUT",
                                    "status": "enqueued",
                                    "recipient_id": USER,
                                    "timestamp": 1710941393420,
                                },
                                {
                                    "gs_id": "2baff204-c39a",
                                    "id": "wamid.OUT",
                                    "status": "sent",
                                    "recipient_id": USER,
                                    "timestamp": "1710930461",
                                },
                            ],
                        },
                    }
                ],
            }
        ],
    }

    [message], statuses = parse_webhook(callback)

    assert (message.channel, message.urn, message.text) == ("gupshup", f"whatsapp:{USER}", "Hi")
    assert statuses == [StatusUpdate("gupshup", "2baff204-c39a", "sent")]


def _without(path: list[Any]) -> dict[str, Any]:
    callback = inbound("text", {"text": "Hi"})
    node: Any = callback
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return callback


MALFORMED: list[tuple[str, Any]] = [
    ("$", ["not", "an", "object"]),
    ("type", _without(["type"])),
    ("payload", _without(["payload"])),
    ("payload.id", _without(["payload", "id"])),
    ("payload.type", _without(["payload", "type"])),
    ("payload", {"app": APP, "type": "message", "payload": "Hi"}),
    (
        "payload.id",
        {"app": APP, "type": "message-event", "payload": {"type": "failed", "destination": USER}},
    ),
]


def test_message_without_sender_phone_or_source_names_the_path() -> None:
    callback = inbound("text", {"text": "Hi"})
    del callback["payload"]["sender"]["phone"]
    del callback["payload"]["source"]
    with pytest.raises(ChannelError) as caught:
        parse_webhook(callback)
    assert caught.value.path == "payload.sender.phone"


@pytest.mark.parametrize(("path", "callback"), MALFORMED)
def test_malformed_callback_names_the_json_path(path: str, callback: Any) -> None:
    with pytest.raises(ChannelError) as caught:
        parse_webhook(callback)
    assert caught.value.path == path


def test_the_stand_in_payload_builder_round_trips() -> None:
    [parsed], [] = parse_webhook(gupshup_text_payload("+" + USER, "hello", name="Ravi"))
    assert (parsed.urn, parsed.text, parsed.contact_name) == (f"whatsapp:{USER}", "hello", "Ravi")


# --- sending --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[GupshupStubServer]:
    with GupshupStubServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def gs(server: GupshupStubServer) -> GupshupStubServer:
    server.reset()
    return server


@pytest.fixture
async def channel(gs: GupshupStubServer) -> AsyncIterator[Gupshup]:
    async with httpx.AsyncClient() as http:
        yield Gupshup(KEY, APP, SOURCE, api_url=gs.api_url, http=http)


async def test_sends_a_text_form(gs: GupshupStubServer, channel: Gupshup) -> None:
    result = await channel.send(OutboundMessage(to=USER, text="Namaste — आपका स्वागत है"))

    assert result.ok and result.external_id
    [request] = gs.sends
    assert request.path == "/wa/api/v1/msg"
    assert request.headers["apikey"] == KEY
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert {k: v[0] for k, v in parse_qs(request.raw.decode()).items()} == {
        "channel": "whatsapp",
        "source": SOURCE,
        "destination": USER,
        "src.name": APP,
        "message": '{"type":"text","text":"Namaste — आपका स्वागत है"}',
    }


async def test_each_send_gets_its_own_id(channel: Gupshup) -> None:
    first = await channel.send(OutboundMessage(to=f"whatsapp:{USER}", text="a"))
    second = await channel.send(OutboundMessage(to=USER, text="b"))
    assert first.external_id and second.external_id and first.external_id != second.external_id


async def test_quick_replies(gs: GupshupStubServer, channel: Gupshup) -> None:
    result = await channel.send(
        OutboundMessage(to=USER, text="Join?", quick_replies=["Yes", "No", "Tell me much more"])
    )

    assert result.ok
    [message] = gs.messages
    assert message == {
        "type": "quick_reply",
        "msgid": message["msgid"],
        "content": {"type": "text", "text": "Join?"},
        "options": [
            {"type": "text", "title": "Yes"},
            {"type": "text", "title": "No"},
            {"type": "text", "title": "Tell me much more"},
        ],
    }
    assert message["msgid"].startswith("qr-")


async def test_more_than_three_quick_replies_become_a_list(
    gs: GupshupStubServer, channel: Gupshup
) -> None:
    replies = ["Monday", "Tuesday", "Wednesday", "Thursday morning before the clinic opens"]

    assert (await channel.send(OutboundMessage(to=USER, text="Day?", quick_replies=replies))).ok

    [message] = gs.messages
    assert message == {
        "type": "list",
        "title": "Options",
        "body": "Day?",
        "msgid": message["msgid"],
        "globalButtons": [{"type": "text", "title": "Options"}],
        "items": [
            {
                "title": "Options",
                "options": [
                    {"type": "text", "title": "Monday", "postbackText": "Monday"},
                    {"type": "text", "title": "Tuesday", "postbackText": "Tuesday"},
                    {"type": "text", "title": "Wednesday", "postbackText": "Wednesday"},
                    {
                        "type": "text",
                        "title": "Thursday morning before…",
                        "postbackText": "Thursday morning before the clinic opens",
                        "description": "Thursday morning before the clinic opens",
                    },
                ],
            }
        ],
    }


async def test_glific_interactive_is_passed_on_with_a_msgid(
    gs: GupshupStubServer, channel: Gupshup
) -> None:
    interactive = {
        "type": "list",
        "title": "Health topics",
        "body": "Pick one",
        "globalButtons": [{"type": "text", "title": "Topics"}],
        "items": [
            {
                "title": "Mothers",
                "subtitle": "Mothers",
                "options": [{"type": "text", "title": "Nutrition", "description": "Eating well"}],
            }
        ],
    }

    assert (await channel.send(OutboundMessage(to=USER, text="", interactive=interactive))).ok

    [message] = gs.messages
    assert message == {**interactive, "msgid": message["msgid"]}
    assert message["msgid"].startswith("list-")


async def test_glific_quick_reply_takes_the_text_when_it_has_none(
    gs: GupshupStubServer, channel: Gupshup
) -> None:
    interactive = {
        "type": "quick_reply",
        "msgid": "survey-1",
        "content": {"type": "image", "url": "https://x.org/a.png"},
        "options": [{"type": "text", "title": "Yes"}],
    }

    await channel.send(OutboundMessage(to=USER, text="Like it?", interactive=interactive))

    assert gs.messages == [
        {
            "type": "quick_reply",
            "msgid": "survey-1",
            "content": {"type": "image", "url": "https://x.org/a.png", "caption": "Like it?"},
            "options": [{"type": "text", "title": "Yes"}],
        }
    ]


@pytest.mark.parametrize(
    ("attachment", "text", "expected"),
    [
        (
            "image/jpeg:https://cdn.x.org/chart.jpg",
            "Your chart",
            [
                {
                    "type": "image",
                    "originalUrl": "https://cdn.x.org/chart.jpg",
                    "previewUrl": "https://cdn.x.org/chart.jpg",
                    "caption": "Your chart",
                }
            ],
        ),
        (
            "video/mp4:https://cdn.x.org/howto.mp4",
            "",
            [{"type": "video", "url": "https://cdn.x.org/howto.mp4"}],
        ),
        (
            "application/pdf:https://cdn.x.org/docs/consent.pdf",
            "Please sign",
            [
                {
                    "type": "file",
                    "url": "https://cdn.x.org/docs/consent.pdf",
                    "filename": "consent.pdf",
                    "caption": "Please sign",
                }
            ],
        ),
        (
            "audio/mpeg:https://cdn.x.org/lullaby.mp3",
            "A lullaby",
            [
                {"type": "text", "text": "A lullaby"},
                {"type": "audio", "url": "https://cdn.x.org/lullaby.mp3"},
            ],
        ),
    ],
    ids=["image", "video", "file", "audio and text"],
)
async def test_sends_media(
    gs: GupshupStubServer,
    channel: Gupshup,
    attachment: str,
    text: str,
    expected: list[dict[str, Any]],
) -> None:
    result = await channel.send(OutboundMessage(to=USER, text=text, attachments=[attachment]))
    assert result.ok
    assert gs.messages == expected


async def test_sends_a_template_by_its_gupshup_id(gs: GupshupStubServer, channel: Gupshup) -> None:
    template = {
        "id": "6c2bd5ec-7e9f-4c4a-b8b6-6ad2d1d2a1f4",
        "name": "appointment_reminder",
        "language": {"code": "hi"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Monday"},
                    {"type": "text", "text": "10am"},
                ],
            }
        ],
    }

    assert (await channel.send(OutboundMessage(to=USER, text="", template=template))).ok

    [request] = gs.sends
    assert request.path == "/wa/api/v1/template/msg"
    assert json.loads(request.body["template"]) == {
        "id": "6c2bd5ec-7e9f-4c4a-b8b6-6ad2d1d2a1f4",
        "params": ["Monday", "10am"],
    }


async def test_a_template_without_a_gupshup_id_is_refused(
    gs: GupshupStubServer, channel: Gupshup
) -> None:
    result = await channel.send(
        OutboundMessage(to=USER, text="", template={"name": "x", "language": {"code": "en"}})
    )
    assert result.error == "cannot send: Gupshup sends templates by their Gupshup template id"
    assert gs.sent == []


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(429, {"Retry-After": "3"}, 3.0), (429, {}, 5.0), (500, {}, 5.0), (503, {}, 5.0)],
    ids=["429 retry-after", "429", "500", "503"],
)
async def test_throttling_and_outages_ask_for_a_retry(
    gs: GupshupStubServer,
    channel: Gupshup,
    status: int,
    headers: dict[str, str],
    retry_after: float,
) -> None:
    gs.plan_error(status, "Too Many Requests", headers=headers)

    result = await channel.send(OutboundMessage(to=USER, text="hi"))

    assert result.error == f"HTTP {status}: Too Many Requests"
    assert result.retry_after == retry_after


async def test_refusals_are_not_retried(gs: GupshupStubServer, channel: Gupshup) -> None:
    gs.plan_error(400, "Invalid Destination")
    gs.plan_error(200, "Template Not Found")  # Gupshup can say "error" with a 2xx

    refused = await channel.send(OutboundMessage(to=USER, text="hi"))
    refused_2xx = await channel.send(OutboundMessage(to=USER, text="hi"))

    assert (refused.error, refused.retry_after) == ("HTTP 400: Invalid Destination", None)
    assert (refused_2xx.error, refused_2xx.retry_after) == ("HTTP 200: Template Not Found", None)


async def test_api_key_never_appears_in_errors_or_logs(
    gs: GupshupStubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gs.plan_error(401, f"Authentication Failed for {KEY}")
    async with httpx.AsyncClient() as http:
        right = Gupshup(KEY, APP, SOURCE, api_url=gs.api_url, http=http)
        echoed = await right.send(OutboundMessage(to=USER, text="hi"))
        wrong = Gupshup("gs-wrong-key", APP, SOURCE, api_url=gs.api_url, http=http)
        refused = await wrong.send(OutboundMessage(to=USER, text="hi"))

    assert echoed.error == "HTTP 401: Authentication Failed for ***"
    assert (refused.error, refused.retry_after) == ("HTTP 401: Authentication Failed", None)
    assert KEY not in caplog.text and "gs-wrong-key" not in caplog.text
    assert KEY not in repr(right)


async def test_network_errors_ask_for_a_retry() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = Gupshup(KEY, APP, SOURCE, api_url=f"http://127.0.0.1:{port}", timeout=2)
    try:
        result = await channel.send(OutboundMessage(to=USER, text="hi"))
    finally:
        await channel.aclose()

    assert result.error is not None and result.error.startswith("network error: ConnectError")
    assert result.retry_after == 5.0
    assert KEY not in result.error


async def test_failure_after_a_part_was_sent_is_not_retried(
    gs: GupshupStubServer, channel: Gupshup
) -> None:
    gs.plan_ok()
    gs.plan_error(503, "Service Unavailable")

    result = await channel.send(
        OutboundMessage(to=USER, text="Listen", attachments=["audio/mpeg:https://x.org/a.mp3"])
    )

    assert [m["type"] for m in gs.messages] == ["text", "audio"]
    assert result.error == "sent 1 of 2 parts, then HTTP 503: Service Unavailable"
    assert result.retry_after is None
