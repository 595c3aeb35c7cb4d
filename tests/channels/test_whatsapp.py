"""WhatsApp Cloud adapter: signature, handshake, webhook parsing, sending against the stand-in."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sutra.channels.base import ChannelError, OutboundMessage, StatusUpdate
from sutra.channels.whatsapp import (
    WhatsAppAPIError,
    WhatsAppCloud,
    parse_webhook,
    verify_handshake,
    verify_signature,
)
from sutra.testing.graph_api import (
    GraphAPIStubServer,
    signature_header,
    signed_webhook,
    whatsapp_status_payload,
    whatsapp_text_payload,
)

TOKEN = "EAAG-secret-access-token-0123456789"
PHONE_ID = "106540352242922"
USER = "16505551234"
SECRET = "app-secret-42"


# --- realistic webhook payloads -------------------------------------------------------------


def webhook(*changes: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": f"10229012934039{n}", "changes": [copy.deepcopy(c) for c in changes]}
            for n in range(entries)
        ],
    }


def value(**fields: Any) -> dict[str, Any]:
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
            **fields,
        },
    }


def contact(
    wa_id: str | None = USER, name: str = "Sheena Nelson", user_id: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"profile": {"name": name}}
    if wa_id is not None:
        out["wa_id"] = wa_id
    if user_id is not None:
        out["user_id"] = user_id
    return out


def message(
    kind: str, content: Any, *, wamid: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQz"
) -> dict[str, Any]:
    msg: dict[str, Any] = {"from": USER, "id": wamid, "timestamp": "1749416383", "type": kind}
    if content is not None:
        msg[kind] = content
    return msg


# (name, message, text, attachments, payload subset)
INBOUND_CASES: list[tuple[str, dict[str, Any], str, list[str], dict[str, Any]]] = [
    (
        "text",
        message("text", {"body": "Does it come in another color?"}),
        "Does it come in another color?",
        [],
        {"type": "text"},
    ),
    (
        "button reply",
        message(
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "yes-please", "title": "Yes"}},
        ),
        "Yes",
        [],
        {"reply_id": "yes-please"},
    ),
    (
        "list reply",
        message(
            "interactive",
            {
                "type": "list_reply",
                "list_reply": {"id": "row-2", "title": "Tuesday", "description": "Afternoon slots"},
            },
        ),
        "Tuesday",
        [],
        {"reply_id": "row-2", "description": "Afternoon slots"},
    ),
    (
        "template quick reply",
        message("button", {"payload": "STOP_PROMOS", "text": "Stop"}),
        "Stop",
        [],
        {"reply_id": "STOP_PROMOS"},
    ),
    (
        "image with caption",
        message(
            "image",
            {
                "caption": "My receipt",
                "mime_type": "image/jpeg",
                "sha256": "8f5b...",
                "id": "1003383421387256",
            },
        ),
        "My receipt",
        ["image/jpeg:1003383421387256"],
        {"media_id": "1003383421387256", "mime_type": "image/jpeg"},
    ),
    (
        "voice note",
        message(
            "audio",
            {"mime_type": "audio/ogg; codecs=opus", "sha256": "abc", "id": "2001", "voice": True},
        ),
        "",
        ["audio/ogg:2001"],
        {"mime_type": "audio/ogg; codecs=opus"},
    ),
    (
        "video",
        message("video", {"mime_type": "video/mp4", "sha256": "x", "id": "3001"}),
        "",
        ["video/mp4:3001"],
        {"media_id": "3001"},
    ),
    (
        "document",
        message(
            "document",
            {
                "caption": "Form",
                "filename": "form.pdf",
                "mime_type": "application/pdf",
                "sha256": "y",
                "id": "4001",
            },
        ),
        "Form",
        ["application/pdf:4001"],
        {"filename": "form.pdf"},
    ),
    (
        "sticker",
        message(
            "sticker", {"mime_type": "image/webp", "sha256": "z", "id": "5001", "animated": False}
        ),
        "",
        ["image/webp:5001"],
        {"media_id": "5001"},
    ),
    (
        "location with a name",
        message(
            "location",
            {
                "latitude": 28.6139,
                "longitude": 77.209,
                "name": "Anganwadi 12",
                "address": "Sector 4, Delhi",
            },
        ),
        "Anganwadi 12, Sector 4, Delhi",
        ["geo:28.6139,77.209"],
        {"type": "location"},
    ),
    (
        "bare location",
        message("location", {"latitude": -1.2921, "longitude": 36.8219}),
        "",
        ["geo:-1.2921,36.8219"],
        {},
    ),
    (
        "contacts",
        message(
            "contacts",
            [
                {
                    "name": {"formatted_name": "Asha Worker", "first_name": "Asha"},
                    "phones": [
                        {"phone": "+91 98123 45678", "wa_id": "919812345678", "type": "CELL"}
                    ],
                }
            ],
        ),
        "",
        [],
        {"type": "contacts"},
    ),
    (
        "reaction",
        message("reaction", {"message_id": "wamid.abc", "emoji": "👍"}),
        "",
        [],
        {"type": "reaction"},
    ),
    (
        "unsupported, with errors",
        {
            **message("unsupported", {"type": "poll_creation"}),
            "errors": [
                {
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }
            ],
        },
        "",
        [],
        {"error": "131051: Message type unknown (Message type is currently not supported.)"},
    ),
    ("a type from the future", message("hologram", {"id": "x"}), "", [], {"type": "hologram"}),
]


@pytest.mark.parametrize(
    ("msg", "text", "attachments", "payload"),
    [case[1:] for case in INBOUND_CASES],
    ids=[case[0] for case in INBOUND_CASES],
)
def test_parses_every_inbound_type(
    msg: dict[str, Any], text: str, attachments: list[str], payload: dict[str, Any]
) -> None:
    messages, statuses = parse_webhook(webhook(value(contacts=[contact()], messages=[msg])))

    assert statuses == []
    [parsed] = messages
    assert parsed.channel == "whatsapp"
    assert parsed.external_id == msg["id"]
    assert parsed.urn == f"whatsapp:{USER}"
    assert parsed.phone == USER
    assert parsed.contact_name == "Sheena Nelson"
    assert parsed.timestamp == 1749416383.0
    assert parsed.text == text
    assert parsed.attachments == attachments
    assert parsed.payload["message"] == msg
    assert parsed.payload["phone_number_id"] == PHONE_ID
    assert parsed.payload.items() >= payload.items()
    json.dumps(parsed.payload)  # stored as JSON by the webhook route


def test_batched_webhook_yields_every_message_and_status_in_order() -> None:
    other = "919812345678"
    change = value(
        contacts=[contact(), contact(other, "Ravi")],
        messages=[
            message("text", {"body": "one"}, wamid="wamid.A"),
            {**message("text", {"body": "two"}, wamid="wamid.B"), "from": other},
        ],
        statuses=[
            {"id": "wamid.OUT1", "status": "delivered", "timestamp": "1", "recipient_id": USER},
        ],
    )
    payload = webhook(change, entries=2)
    payload["entry"][1]["changes"][0]["value"]["messages"][0]["id"] = "wamid.C"
    payload["entry"][1]["changes"][0]["value"]["messages"][1]["id"] = "wamid.D"
    payload["entry"][1]["changes"][0]["value"]["statuses"][0]["id"] = "wamid.OUT2"
    payload["entry"][1]["changes"][0]["value"]["statuses"][0]["status"] = "read"

    messages, statuses = parse_webhook(payload)

    assert [(m.external_id, m.text, m.urn, m.contact_name) for m in messages] == [
        ("wamid.A", "one", f"whatsapp:{USER}", "Sheena Nelson"),
        ("wamid.B", "two", f"whatsapp:{other}", "Ravi"),
        ("wamid.C", "one", f"whatsapp:{USER}", "Sheena Nelson"),
        ("wamid.D", "two", f"whatsapp:{other}", "Ravi"),
    ]
    assert statuses == [
        StatusUpdate("whatsapp", "wamid.OUT1", "delivered"),
        StatusUpdate("whatsapp", "wamid.OUT2", "read"),
    ]


def test_contact_is_matched_by_user_id_when_the_phone_number_is_hidden() -> None:
    bsuid = "US.13491208655302741918"
    msg = message("text", {"body": "hi"})
    del msg["from"]
    msg["from_user_id"] = bsuid

    [parsed], _ = parse_webhook(
        webhook(value(contacts=[contact(None, "Username User", bsuid)], messages=[msg]))
    )

    assert parsed.urn == f"whatsapp:{bsuid}"
    assert parsed.phone is None
    assert parsed.contact_name == "Username User"
    assert parsed.payload["user_id"] == bsuid


def test_contact_name_found_by_user_id_when_wa_id_differs() -> None:
    msg = {**message("text", {"body": "hi"}), "from_user_id": "IN.1410018717833190"}
    contacts = [contact("910000000000", "Not Them"), contact(None, "Krish", "IN.1410018717833190")]

    [parsed], _ = parse_webhook(webhook(value(contacts=contacts, messages=[msg])))

    assert parsed.urn == f"whatsapp:{USER}"
    assert parsed.contact_name == "Krish"


def test_message_without_a_known_contact_has_no_name() -> None:
    [parsed], _ = parse_webhook(webhook(value(messages=[message("text", {"body": "x"})])))
    assert parsed.contact_name is None


def test_statuses_carry_errors_and_skip_states_we_do_not_store() -> None:
    statuses = [
        {"id": "wamid.1", "status": "sent", "timestamp": "1", "recipient_id": USER},
        {
            "id": "wamid.2",
            "status": "failed",
            "timestamp": "2",
            "recipient_id": USER,
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {
                        "details": "Message failed to send because more than 24 hours have "
                        "passed since the customer last replied to this number."
                    },
                }
            ],
        },
        {"id": "wamid.3", "status": "deleted", "timestamp": "3", "recipient_id": USER},
    ]

    messages, parsed = parse_webhook(webhook(value(statuses=statuses)))

    assert messages == []
    assert [(s.external_id, s.status) for s in parsed] == [
        ("wamid.1", "sent"),
        ("wamid.2", "failed"),
    ]
    assert parsed[0].error is None
    assert parsed[1].error is not None
    assert parsed[1].error.startswith("131047: Re-engagement message (Message failed")


def test_other_subscription_fields_are_skipped() -> None:
    template_update = {
        "field": "message_template_status_update",
        "value": {"event": "APPROVED", "message_template_id": 123, "message_template_name": "x"},
    }
    assert parse_webhook(webhook(template_update)) == ([], [])


def bad(path: str, mutate: Any) -> tuple[str, Any]:
    payload = webhook(
        value(
            contacts=[contact()],
            messages=[message("text", {"body": "a"}), message("text", {"body": "b"})],
            statuses=[{"id": "wamid.S", "status": "sent", "recipient_id": USER}],
        )
    )
    return path, mutate(payload) or payload


def _drop(keys: list[Any]) -> Any:
    def mutate(payload: dict[str, Any]) -> None:
        node = payload
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


MALFORMED = [
    ("$", lambda p: ["not", "an", "object"]),
    ("object", lambda p: {**p, "object": "page"}),
    ("object", _drop(["object"])),
    ("entry", _drop(["entry"])),
    ("entry", lambda p: {**p, "entry": {"id": "1"}}),
    ("entry[0]", lambda p: {**p, "entry": ["x"]}),
    ("entry[0].changes", _drop(["entry", 0, "changes"])),
    ("entry[0].changes[0].value", _drop(["entry", 0, "changes", 0, "value"])),
    (
        "entry[0].changes[0].value.messages",
        lambda p: p["entry"][0]["changes"][0]["value"].update(messages={"from": USER}),
    ),
    (
        "entry[0].changes[0].value.messages[1].from",
        _drop(["entry", 0, "changes", 0, "value", "messages", 1, "from"]),
    ),
    (
        "entry[0].changes[0].value.messages[1].id",
        _drop(["entry", 0, "changes", 0, "value", "messages", 1, "id"]),
    ),
    (
        "entry[0].changes[0].value.messages[0].type",
        _drop(["entry", 0, "changes", 0, "value", "messages", 0, "type"]),
    ),
    (
        "entry[0].changes[0].value.statuses[0].id",
        _drop(["entry", 0, "changes", 0, "value", "statuses", 0, "id"]),
    ),
    (
        "entry[0].changes[0].value.statuses[0].status",
        _drop(["entry", 0, "changes", 0, "value", "statuses", 0, "status"]),
    ),
]


@pytest.mark.parametrize(("path", "payload"), [bad(p, m) for p, m in MALFORMED])
def test_malformed_payload_names_the_json_path(path: str, payload: Any) -> None:
    with pytest.raises(ChannelError) as caught:
        parse_webhook(payload)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


def test_the_stand_in_payload_builders_round_trip() -> None:
    text = whatsapp_text_payload("919812345678", "hello", name="Asha", wamid="wamid.X")
    raw, headers = signed_webhook(SECRET, text)

    assert verify_signature(SECRET, raw, headers["X-Hub-Signature-256"])
    [parsed], [] = parse_webhook(json.loads(raw))
    assert (parsed.external_id, parsed.text, parsed.contact_name) == ("wamid.X", "hello", "Asha")

    status = whatsapp_status_payload("wamid.Y", "failed", recipient_id=USER, error_code=131026)
    [], [update] = parse_webhook(status)
    assert (update.external_id, update.status) == ("wamid.Y", "failed")
    assert update.error is not None and update.error.startswith("131026: ")


# --- signature and handshake ----------------------------------------------------------------

BODY = json.dumps(whatsapp_text_payload(USER, "hi", wamid="wamid.sig")).encode()


def test_signature_accepts_the_hmac_of_the_raw_body() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert verify_signature(SECRET, BODY, f"sha256={digest}")
    assert verify_signature(SECRET, BODY, f"sha256={digest.upper()}")
    assert signature_header(SECRET, BODY) == f"sha256={digest}"


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        ("wrong-secret", BODY, signature_header(SECRET, BODY)),
        (SECRET, BODY, None),
        (SECRET, BODY, ""),
        (SECRET, BODY.replace(b'"hi"', b'"hj"'), signature_header(SECRET, BODY)),
        (SECRET, BODY, signature_header(SECRET, BODY).removeprefix("sha256=")),
        (SECRET, BODY, "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()),
        (SECRET, BODY, "sha256=" + "z" * 64),
        (SECRET, BODY, signature_header(SECRET, BODY)[:-2]),
        (SECRET, BODY, "sha256=é" + "0" * 63),
        ("", BODY, signature_header("", BODY)),
    ],
    ids=[
        "wrong secret",
        "missing",
        "empty",
        "tampered body",
        "no scheme",
        "sha1",
        "not hex",
        "truncated",
        "non-ascii",
        "no secret configured",
    ],
)
def test_signature_rejects(secret: str, body: bytes, header: str | None) -> None:
    assert verify_signature(secret, body, header) is False


@pytest.mark.parametrize(
    ("params", "token", "expected"),
    [
        (
            {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"},
            "tok",
            "1158201444",
        ),
        ({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}, "tok", None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "tok", "hub.challenge": "1"}, "tok", None),
        ({"hub.mode": "subscribe", "hub.verify_token": "tok"}, "tok", None),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, "tok", None),
        ({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, "", None),
    ],
    ids=["match", "wrong token", "wrong mode", "no challenge", "no token", "nothing configured"],
)
def test_handshake(params: dict[str, str], token: str, expected: str | None) -> None:
    assert verify_handshake(params, token) == expected


# --- sending --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[GraphAPIStubServer]:
    with GraphAPIStubServer(access_token=TOKEN) as srv:
        yield srv


@pytest.fixture
def graph(server: GraphAPIStubServer) -> GraphAPIStubServer:
    server.reset()
    return server


@pytest.fixture
async def channel(graph: GraphAPIStubServer) -> AsyncIterator[WhatsAppCloud]:
    async with httpx.AsyncClient() as http:
        yield WhatsAppCloud(TOKEN, PHONE_ID, api_url=graph.api_url, http=http)


def envelope(kind: str, content: dict[str, Any], to: str = USER) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: content,
    }


async def test_sends_text_with_the_bearer_token(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    first = await channel.send(OutboundMessage(to=USER, text="Namaste!"))
    second = await channel.send(OutboundMessage(to=f"whatsapp:{USER}", text="Again"))

    assert first.ok and first.external_id and first.external_id.startswith("wamid.")
    assert second.external_id != first.external_id
    assert graph.sent == [
        envelope("text", {"body": "Namaste!"}),
        envelope("text", {"body": "Again"}),
    ]
    [request, _] = graph.sends
    assert request.path == f"/v21.0/{PHONE_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"


async def test_a_contact_known_by_business_scoped_id_is_sent_to_as_recipient(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    result = await channel.send(OutboundMessage(to="US.13491208655302741918", text="Hi"))

    assert result.ok
    assert graph.sent == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "recipient": "US.13491208655302741918",
            "type": "text",
            "text": {"body": "Hi"},
        }
    ]


async def test_text_with_a_link_asks_for_a_preview(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    await channel.send(OutboundMessage(to=USER, text="Read https://example.org/guide first"))
    assert graph.sent == [
        envelope("text", {"body": "Read https://example.org/guide first", "preview_url": True})
    ]


async def test_text_over_the_limit_is_split_at_whitespace(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    text = " ".join(["word"] * 1500)  # 7,499 characters

    result = await channel.send(OutboundMessage(to=USER, text=text))

    assert result.ok
    bodies = [b["text"]["body"] for b in graph.sent]
    assert len(bodies) == 2 and all(len(b) <= 4096 for b in bodies)
    assert " ".join(bodies) == text


async def test_up_to_three_quick_replies_are_reply_buttons(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    replies = ["Yes", "No", "Tell me more about the programme"]

    result = await channel.send(OutboundMessage(to=USER, text="Join?", quick_replies=replies))

    assert result.ok
    assert graph.sent == [
        envelope(
            "interactive",
            {
                "type": "button",
                "body": {"text": "Join?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "Yes", "title": "Yes"}},
                        {"type": "reply", "reply": {"id": "No", "title": "No"}},
                        {
                            "type": "reply",
                            "reply": {
                                "id": "Tell me more about the programme",
                                "title": "Tell me more about…",
                            },
                        },
                    ]
                },
            },
        )
    ]


async def test_more_than_three_quick_replies_become_a_list(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    replies = ["Monday", "Tuesday", "Wednesday", "Thursday morning before the clinic opens"]

    result = await channel.send(OutboundMessage(to=USER, text="Which day?", quick_replies=replies))

    assert result.ok
    assert graph.sent == [
        envelope(
            "interactive",
            {
                "type": "list",
                "body": {"text": "Which day?"},
                "action": {
                    "button": "Options",
                    "sections": [
                        {
                            "rows": [
                                {"id": "Monday", "title": "Monday"},
                                {"id": "Tuesday", "title": "Tuesday"},
                                {"id": "Wednesday", "title": "Wednesday"},
                                {
                                    "id": "Thursday morning before the clinic opens",
                                    "title": "Thursday morning before…",
                                    "description": "Thursday morning before the clinic opens",
                                },
                            ]
                        }
                    ],
                },
            },
        )
    ]


async def test_a_list_holds_at_most_ten_rows(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    replies = [f"Choice {n}" for n in range(1, 13)]

    result = await channel.send(OutboundMessage(to=USER, text="Pick", quick_replies=replies))

    assert result.ok
    [rows] = [s["rows"] for s in graph.sent[0]["interactive"]["action"]["sections"]]
    assert [r["id"] for r in rows] == replies[:10]


async def test_quick_replies_with_an_image_use_it_as_the_header(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    message = OutboundMessage(
        to=USER,
        text="Is this your child's vaccination card?",
        quick_replies=["Yes", "No"],
        attachments=["image/jpeg:https://cdn.example.org/card.jpg"],
    )

    assert (await channel.send(message)).ok
    assert graph.sent == [
        envelope(
            "interactive",
            {
                "type": "button",
                "header": {"type": "image", "image": {"link": "https://cdn.example.org/card.jpg"}},
                "body": {"text": "Is this your child's vaccination card?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "Yes", "title": "Yes"}},
                        {"type": "reply", "reply": {"id": "No", "title": "No"}},
                    ]
                },
            },
        )
    ]


async def test_glific_quick_reply_with_a_header(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    interactive = {
        "type": "quick_reply",
        "content": {"type": "text", "header": "Survey", "text": "Did you attend?"},
        "options": [{"type": "text", "title": "Attended"}, {"type": "text", "title": "Missed"}],
    }

    result = await channel.send(OutboundMessage(to=USER, text="", interactive=interactive))

    assert result.ok
    assert graph.sent == [
        envelope(
            "interactive",
            {
                "type": "button",
                "header": {"type": "text", "text": "Survey"},
                "body": {"text": "Did you attend?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "Attended", "title": "Attended"}},
                        {"type": "reply", "reply": {"id": "Missed", "title": "Missed"}},
                    ]
                },
            },
        )
    ]


async def test_glific_quick_reply_with_an_image(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    interactive = {
        "type": "quick_reply",
        "content": {"type": "image", "url": "https://x.org/a.png", "caption": "Like it?"},
        "options": [{"type": "text", "title": "👍"}],
    }

    assert (await channel.send(OutboundMessage(to=USER, text="", interactive=interactive))).ok
    sent = graph.sent[0]["interactive"]
    assert sent["header"] == {"type": "image", "image": {"link": "https://x.org/a.png"}}
    assert sent["body"] == {"text": "Like it?"}


async def test_glific_list(graph: GraphAPIStubServer, channel: WhatsAppCloud) -> None:
    interactive = {
        "type": "list",
        "title": "Health topics",
        "body": "What would you like to learn about?",
        "globalButtons": [{"type": "text", "title": "Topics"}],
        "items": [
            {
                "title": "Mothers",
                "subtitle": "Mothers",
                "options": [
                    {"type": "text", "title": "Nutrition", "description": "Eating well"},
                    {"type": "text", "title": "Check-ups", "description": ""},
                ],
            },
            {
                "title": "Children",
                "subtitle": "Children",
                "options": [{"type": "text", "title": "Vaccines", "description": "When and why"}],
            },
        ],
    }

    result = await channel.send(OutboundMessage(to=USER, text="ignored", interactive=interactive))

    assert result.ok
    assert graph.sent == [
        envelope(
            "interactive",
            {
                "type": "list",
                "header": {"type": "text", "text": "Health topics"},
                "body": {"text": "What would you like to learn about?"},
                "action": {
                    "button": "Topics",
                    "sections": [
                        {
                            "rows": [
                                {
                                    "id": "Nutrition",
                                    "title": "Nutrition",
                                    "description": "Eating well",
                                },
                                {"id": "Check-ups", "title": "Check-ups"},
                            ],
                            "title": "Mothers",
                        },
                        {
                            "rows": [
                                {
                                    "id": "Vaccines",
                                    "title": "Vaccines",
                                    "description": "When and why",
                                }
                            ],
                            "title": "Children",
                        },
                    ],
                },
            },
        )
    ]


async def test_unknown_interactive_type_is_refused_without_a_request(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    result = await channel.send(
        OutboundMessage(to=USER, text="x", interactive={"type": "carousel", "cards": []})
    )

    assert result.error == "cannot send: unsupported interactive type 'carousel'"
    assert result.retry_after is None
    assert graph.sent == []


@pytest.mark.parametrize(
    ("attachment", "text", "expected"),
    [
        (
            "image/jpeg:https://cdn.example.org/chart.jpg",
            "Your growth chart",
            [
                envelope(
                    "image",
                    {"link": "https://cdn.example.org/chart.jpg", "caption": "Your growth chart"},
                )
            ],
        ),
        (
            "image:https://cdn.example.org/chart.jpg",
            "",
            [envelope("image", {"link": "https://cdn.example.org/chart.jpg"})],
        ),
        (
            "video/mp4:https://cdn.example.org/howto.mp4",
            "Watch this",
            [
                envelope(
                    "video", {"link": "https://cdn.example.org/howto.mp4", "caption": "Watch this"}
                )
            ],
        ),
        (
            "application/pdf:https://cdn.example.org/docs/consent.pdf",
            "Please sign",
            [
                envelope(
                    "document",
                    {
                        "link": "https://cdn.example.org/docs/consent.pdf",
                        "caption": "Please sign",
                        "filename": "consent.pdf",
                    },
                )
            ],
        ),
        (
            "audio/mpeg:https://cdn.example.org/lullaby.mp3",
            "A lullaby",
            [
                envelope("text", {"body": "A lullaby"}),
                envelope("audio", {"link": "https://cdn.example.org/lullaby.mp3"}),
            ],
        ),
        (
            "image/jpeg:1003383421387256",
            "",
            [envelope("image", {"id": "1003383421387256"})],
        ),
    ],
    ids=["image", "image shorthand", "video", "document", "audio and text", "media id"],
)
async def test_sends_media_by_link(
    graph: GraphAPIStubServer,
    channel: WhatsAppCloud,
    attachment: str,
    text: str,
    expected: list[dict[str, Any]],
) -> None:
    result = await channel.send(OutboundMessage(to=USER, text=text, attachments=[attachment]))
    assert result.ok
    assert graph.sent == expected


async def test_sends_a_template(graph: GraphAPIStubServer, channel: WhatsAppCloud) -> None:
    template = {
        "name": "appointment_reminder",
        "language": {"code": "hi"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Monday"}]}],
    }

    result = await channel.send(OutboundMessage(to=USER, text="", template=template))

    assert result.ok
    assert graph.sent == [envelope("template", template)]


def test_stand_in_refuses_what_the_cloud_api_refuses(graph: GraphAPIStubServer) -> None:
    body = envelope(
        "interactive",
        {
            "type": "button",
            "body": {"text": "Pick"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": str(n), "title": f"Option {n}"}}
                    for n in range(4)
                ]
            },
        },
    )
    response = httpx.post(
        f"{graph.api_url}/{PHONE_ID}/messages",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 131009


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "headers", "retry_after"),
    [
        (400, 130429, {}, 1.0),
        (400, 131056, {}, 6.0),
        (400, 131048, {}, 60.0),
        (400, 80007, {}, 60.0),
        (429, 130429, {"Retry-After": "7"}, 7.0),
        (429, 613, {}, 5.0),
        (500, 2, {}, 5.0),
        (503, 131000, {}, 5.0),
    ],
    ids=["throughput", "pair", "spam", "account", "429 retry-after", "429", "temporary", "5xx"],
)
async def test_rate_limits_and_outages_ask_for_a_retry(
    graph: GraphAPIStubServer,
    channel: WhatsAppCloud,
    status: int,
    code: int,
    headers: dict[str, str],
    retry_after: float,
) -> None:
    graph.plan_error(status, code, "(#130429) Rate limit hit", headers=headers)

    result = await channel.send(OutboundMessage(to=USER, text="hi"))

    assert not result.ok
    assert result.error == f"{code}: (#130429) Rate limit hit"
    assert result.retry_after == retry_after


@pytest.mark.parametrize(
    ("code", "message", "details"),
    [
        (
            131047,
            "Re-engagement message",
            "More than 24 hours have passed since the customer last replied to this number.",
        ),
        (131026, "Message Undeliverable", "Unable to deliver message."),
        (100, "Invalid parameter", None),
    ],
    ids=["24h window", "undeliverable", "invalid"],
)
async def test_permanent_errors_are_not_retried(
    graph: GraphAPIStubServer, channel: WhatsAppCloud, code: int, message: str, details: str | None
) -> None:
    graph.plan_error(400, code, message, details=details)

    result = await channel.send(OutboundMessage(to=USER, text="hi"))

    expected = f"{code}: {message}" + (f" ({details})" if details else "")
    assert result.error == expected
    assert result.retry_after is None
    assert result.external_id is None


async def test_token_never_appears_in_errors_or_logs(
    graph: GraphAPIStubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.plan_error(400, 190, f"Malformed access token {TOKEN}", details=f"token={TOKEN}")
    async with httpx.AsyncClient() as http:
        right = WhatsAppCloud(TOKEN, PHONE_ID, api_url=graph.api_url, http=http)
        echoed = await right.send(OutboundMessage(to=USER, text="hi"))
        wrong = WhatsAppCloud("EAAG-wrong-token", PHONE_ID, api_url=graph.api_url, http=http)
        refused = await wrong.send(OutboundMessage(to=USER, text="hi"))

    assert echoed.error == "190: Malformed access token *** (token=***)"
    assert refused.error == "190: Invalid OAuth access token - Cannot parse access token"
    assert refused.retry_after is None
    assert TOKEN not in caplog.text and "EAAG-wrong-token" not in caplog.text
    assert TOKEN not in repr(right)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_network_errors_ask_for_a_retry() -> None:
    unreachable = f"http://127.0.0.1:{_closed_port()}/v21.0"
    channel = WhatsAppCloud(TOKEN, PHONE_ID, api_url=unreachable, timeout=2)
    try:
        result = await channel.send(OutboundMessage(to=USER, text="hi"))
    finally:
        await channel.aclose()

    assert result.error is not None and result.error.startswith("network error: ConnectError")
    assert result.retry_after == 5.0
    assert TOKEN not in result.error


async def test_failure_after_a_part_was_sent_is_not_retried(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    graph.plan_ok()
    graph.plan_error(400, 130429, "Rate limit hit")

    result = await channel.send(
        OutboundMessage(
            to=USER,
            text="Two pictures",
            attachments=["image/png:https://x.org/1.png", "image/png:https://x.org/2.png"],
        )
    )

    assert len(graph.sent) == 2
    assert result.error == "sent 1 of 2 parts, then 130429: Rate limit hit"
    assert result.retry_after is None
    assert result.external_id is not None


async def test_empty_message_is_refused(graph: GraphAPIStubServer, channel: WhatsAppCloud) -> None:
    result = await channel.send(OutboundMessage(to=USER, text="  "))
    assert result.error == "cannot send: the message is empty"
    assert graph.sent == []


# --- media ----------------------------------------------------------------------------------


async def test_downloads_inbound_media_with_the_token(
    graph: GraphAPIStubServer, channel: WhatsAppCloud
) -> None:
    data = b"\xff\xd8\xff\xe0 a tiny jpeg"
    media_id = graph.add_media(data, "image/jpeg")

    url = await channel.media_url(media_id)
    body, mime = await channel.download_media(media_id)

    assert url == f"{graph.base_url}/media-bytes/{media_id}"
    assert (body, mime) == (data, "image/jpeg")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in graph.requests)
    assert httpx.get(url).status_code == 401  # the bytes need the token too


async def test_unknown_media_raises_without_the_token(channel: WhatsAppCloud) -> None:
    with pytest.raises(WhatsAppAPIError) as caught:
        await channel.media_url("999")
    assert str(caught.value).startswith("100: Unsupported get request.")
    assert TOKEN not in str(caught.value)


async def test_media_over_the_size_limit_is_refused(graph: GraphAPIStubServer) -> None:
    media_id = graph.add_media(b"x" * 2048, "audio/ogg")
    async with httpx.AsyncClient() as http:
        channel = WhatsAppCloud(
            TOKEN, PHONE_ID, api_url=graph.api_url, http=http, max_media_bytes=1024
        )
        with pytest.raises(WhatsAppAPIError, match="larger than 1024 bytes"):
            await channel.download_media(media_id)
