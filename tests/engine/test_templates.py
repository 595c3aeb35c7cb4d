"""@-variables in text (contract section 4), and text a contact typed is never evaluated."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sutra.engine.session import Contact, Environment, Group

from .flowkit import Chat, FlowBuilder, render, send, webhook, webhook_node

CONTACT = Contact(
    name="Asha Rao",
    phone="+919876543210",
    language="hi",
    fields={"city": "Pune", "age_group": "Adult"},
    groups=[Group(uuid="g1", name="Farmers"), Group(uuid="g2", name="Pune Volunteers")],
)
RESULTS = {
    "favorite_color": {"input": "I like blue", "value": "blue", "category": "Blue"},
    "gpt": {
        "success": True,
        "category": "Success",
        "parsed_msg": {
            "city": "Pune",
            "address": {"city": "Mumbai", "pin": 411001},
            "count": 3,
            "weight": 2.0,
            "ratio": 0.5,
            "temperature": {"value": 21.5, "unit": "C"},
            "ok": True,
        },
    },
}
ENV = Environment(globals={"org_name": "Sutra NGO", "helpline": "1800-11-2233"})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("@results.favorite_color", "I like blue"),
        ("@results.favorite_color.category", "Blue"),
        ("@results.favorite_color.value", "blue"),
        ("@results.Favorite_Color.value", "blue"),
        ("@results.gpt.parsed_msg.city", "Pune"),
        ("@results.gpt.parsed_msg.address.city", "Mumbai"),
        ("@results.gpt.parsed_msg.address.pin", "411001"),
        ("@results.gpt.parsed_msg.count", "3"),
        ("@results.gpt.parsed_msg.weight kg", "2 kg"),
        ("@results.gpt.parsed_msg.ratio", "0.5"),
        ("@results.gpt.parsed_msg.temperature", "21.5"),
        ("@results.gpt.parsed_msg.ok", "true"),
        ("@contact.name", "Asha Rao"),
        ("@contact.first_name", "Asha"),
        ("@contact.phone", "+919876543210"),
        ("@contact.language", "hi"),
        ("@contact.fields.city", "Pune"),
        ("@contact.fields.age_group", "Adult"),
        ("@fields.city", "Pune"),
        ("@contact.groups", "[Farmers, Pune Volunteers]"),
        ("@flow.name", "Templates"),
        ("@flow.uuid", "flow-templates"),
        ("@global.org_name", "Sutra NGO"),
        ("Call @global.helpline.", "Call 1800-11-2233."),
        ("Hi @contact.name, from @fields.city!", "Hi Asha Rao, from Pune!"),
        ("img: https://x.org/@contact.fields.city.jpg", "img: https://x.org/Pune.jpg"),
        ("Mail me@example.com", "Mail me@example.com"),
        ("@results.missing", "@results.missing"),
        ("@results.favorite_color.nope", "@results.favorite_color.nope"),
        ("@contact.fields.unknown here", "@contact.fields.unknown here"),
        ("@global.unknown", "@global.unknown"),
        ("@unknownroot.x", "@unknownroot.x"),
        ("@@contact.name", "@contact.name"),
        ("email @@ home", "email @ home"),
        ("@(1 + 2)", "3"),
        ("@(upper(contact.name))", "ASHA RAO"),
        ("@(results.gpt.parsed_msg.count * 2)", "6"),
        ('@(default(results.missing, "none"))', "none"),
        ('@(if(results.gpt.parsed_msg.count > 2, "many", "few"))', "many"),
        ("<%= @results.gpt.parsed_msg.count + 1 %>", "4"),
        ('<%= "Dear " <> @contact.name %>', "Dear Asha Rao"),
        ("<%= rem(@results.gpt.parsed_msg.count * 2 + 1, 6) %>", "1"),
        ('<%= System.cmd("ls", []) %>', '<%= System.cmd("ls", []) %>'),
        # An expression that fails renders as nothing, as in goflow.
        ("@(__import__('os'))", ""),
    ],
)
def test_template(template: str, expected: str) -> None:
    assert render(template, results=RESULTS, contact=CONTACT, env=ENV) == expected


@pytest.mark.parametrize(
    ("timezone", "now", "expected"),
    [
        # 20:00 UTC on the 5th is already the 6th in India.
        ("Asia/Kolkata", datetime(2026, 3, 5, 20, 0, tzinfo=UTC), "6/03/2026 5/03/2026 Friday"),
        # 03:00 UTC on the 5th is still the 4th in California.
        (
            "America/Los_Angeles",
            datetime(2026, 3, 5, 3, 0, tzinfo=UTC),
            "4/03/2026 3/03/2026 Wednesday",
        ),
        ("UTC", datetime(2026, 3, 5, 20, 0, tzinfo=UTC), "5/03/2026 4/03/2026 Thursday"),
    ],
)
def test_calendar_uses_the_organisation_time_zone(
    timezone: str, now: datetime, expected: str
) -> None:
    text = render(
        "@calendar.current_date @calendar.yesterday @calendar.current_day",
        env=Environment(timezone=timezone),
        now=now,
    )
    assert text == expected


def test_calendar_month_year_and_tomorrow() -> None:
    text = render(
        "@calendar.tomorrow @calendar.current_month @calendar.current_year",
        env=Environment(timezone="Asia/Kolkata"),
        now=datetime(2026, 12, 31, 19, 0, tzinfo=UTC),
    )
    assert text == "2/01/2027 January 2027"


def test_webhook_status_after_a_call() -> None:
    assert render("@webhook.status", webhook={"status": 201, "json": {"a": 1}}) == "201"
    assert render("@webhook.json.a", webhook={"status": 201, "json": {"a": 1}}) == "1"
    assert render("@webhook.status") == "@webhook.status"


# --- what a contact typed is data, never a template ------------------------------------------

HOSTILE = [
    "@contact.name",
    "<%= 1 + 1 %>",
    "@(1+1)",
    "@results.x",
    "@@",
    '"}, "injected": "yes',
    'back\\slash and "quotes"\n<%= System.halt() %>',
]


def echo_chat(body: str, method: str = "FUNCTION") -> Chat:
    flow = (
        FlowBuilder("Echo")
        .switch(
            "ask",
            cases=[("has_text", [], "Said")],
            wait=True,
            result_name="answer",
            to={"Said": "echo"},
        )
        .node("echo", send("You said: @results.answer"), to="call")
    )
    flow.nodes.append(
        webhook_node(
            "call",
            webhook(
                "parse_via_chat_gpt" if method == "FUNCTION" else "https://api.example.org/echo",
                body,
                method=method,
            ),
        )
    )
    chat = Chat(flow, contact=Contact(name="Asha"))
    chat.start()
    return chat


@pytest.mark.parametrize("typed", HOSTILE)
def test_typed_text_is_echoed_literally(typed: str) -> None:
    chat = echo_chat('{"question_text": "You said: @results.answer", "n": 1}')
    assert chat.say(typed) == [f"You said: {typed.strip()}"]
    body = chat.request.body
    assert chat.request.error is None
    assert body == {"question_text": f"You said: {typed.strip()}", "n": 1}
    # The body the function receives survives a JSON round trip.
    assert json.loads(json.dumps(body)) == body


@pytest.mark.parametrize("typed", HOSTILE)
def test_typed_text_stays_literal_in_an_http_body(typed: str) -> None:
    chat = echo_chat('{"q": "@results.answer", "who": "@contact.name"}', method="POST")
    chat.say(typed)
    sent = json.loads(chat.request.body)
    assert sent == {"q": typed.strip(), "who": "Asha"}


def test_typed_text_copied_into_a_result_is_still_not_evaluated() -> None:
    flow = (
        FlowBuilder()
        .switch(
            "ask", cases=[("has_text", [], "Said")], wait=True, result_name="a", to={"Said": "n"}
        )
        .node(
            "n",
            {"type": "set_run_result", "uuid": "r1", "name": "copy", "value": "<@results.a>"},
            {
                "type": "set_contact_field",
                "uuid": "f1",
                "field": {"key": "note", "name": "Note"},
                "value": "@results.a",
            },
            send("@results.copy | @contact.fields.note"),
        )
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say("@contact.phone <%= 2 * 3 %>") == [
        "<@contact.phone <%= 2 * 3 %>> | @contact.phone <%= 2 * 3 %>"
    ]
