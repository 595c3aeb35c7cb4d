"""Every action the engine runs (contract section 2), as a contact or the runtime sees it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sutra.engine import events as ev
from sutra.engine.engine import TimeElapsed
from sutra.engine.session import Contact, Environment, Group, Input

from .flowkit import Chat, FlowBuilder, act, later, send, set_result, webhook, webhook_node

# --- send_msg ----------------------------------------------------------------------------------


def test_send_msg_templates_text_quick_replies_and_attachments() -> None:
    flow = FlowBuilder().node(
        "n",
        send(
            "Hi @contact.name, pick one",
            quick_replies=["Yes @fields.city", "No", "  "],
            attachments=[
                "image:https://example.org/@contact.fields.city.jpg",
                "image:@contact.fields.photo",
            ],
        ),
    )
    chat = Chat(flow, contact=Contact(name="Asha", fields={"city": "pune", "photo": ""}))
    chat.start()
    [msg] = chat.of_type(ev.MsgOut)
    assert msg.text == "Hi Asha, pick one"
    assert msg.quick_replies == ["Yes pune", "No"]
    # An attachment whose URL comes out empty is not sent.
    assert msg.attachments == ["image:https://example.org/pune.jpg"]


SEND_UUID = "send-greeting"
LOCALIZED = {
    "language": "eng",
    "localization": {
        "hi": {
            SEND_UUID: {
                "text": ["नमस्ते @contact.name"],
                "quick_replies": ["हाँ", "नहीं"],
            }
        }
    },
}


def localized_flow() -> FlowBuilder:
    return FlowBuilder("Greeting", **LOCALIZED).node(
        "n", send("Hello @contact.name", uuid=SEND_UUID, quick_replies=["Yes", "No"])
    )


@pytest.mark.parametrize(
    ("language", "text", "replies"),
    [
        ("hi", "नमस्ते Asha", ["हाँ", "नहीं"]),
        ("hindi", "नमस्ते Asha", ["हाँ", "नहीं"]),
        ("Hindi", "नमस्ते Asha", ["हाँ", "नहीं"]),
        ("hin", "नमस्ते Asha", ["हाँ", "नहीं"]),
        ("en", "Hello Asha", ["Yes", "No"]),
        ("eng", "Hello Asha", ["Yes", "No"]),
        ("mr", "Hello Asha", ["Yes", "No"]),
        (None, "Hello Asha", ["Yes", "No"]),
    ],
)
def test_send_msg_uses_the_contacts_language(
    language: str | None, text: str, replies: list[str]
) -> None:
    chat = Chat(localized_flow(), contact=Contact(name="Asha", language=language))
    assert chat.start() == [text]
    assert chat.of_type(ev.MsgOut)[0].quick_replies == replies


def test_set_contact_language_hindi_switches_later_messages_to_hindi() -> None:
    flow = FlowBuilder("Greeting", **LOCALIZED).node(
        "n",
        act("set_contact_language", language="hindi"),
        send("Hello @contact.name (@contact.language)", uuid=SEND_UUID),
    )
    flow.top["localization"]["hi"][SEND_UUID]["text"] = ["नमस्ते @contact.name (@contact.language)"]
    chat = Chat(flow, contact=Contact(name="Asha", language="en"))
    assert chat.start() == ["नमस्ते Asha (hi)"]
    assert chat.state.contact.language == "hi"
    assert [e.language for e in chat.of_type(ev.ContactLanguageChanged)] == ["hi"]


# --- send_interactive_msg ----------------------------------------------------------------------


def interactive(message: dict[str, Any] | str, **fields: Any) -> dict[str, Any]:
    text = message if isinstance(message, str) else json.dumps(message)
    return act("send_interactive_msg", text=text, name="Menu", id=7, **fields)


def test_send_interactive_quick_reply() -> None:
    message = {
        "type": "quick_reply",
        "content": {"type": "text", "text": "Ready, @contact.name?"},
        "options": [{"type": "text", "title": "Yes"}, {"type": "text", "title": "No"}],
    }
    chat = Chat(FlowBuilder().node("n", interactive(message)), contact=Contact(name='A "Q" Rao'))
    chat.start()
    [msg] = chat.of_type(ev.MsgOut)
    assert msg.text == 'Ready, A "Q" Rao?'
    assert msg.quick_replies == ["Yes", "No"]
    assert msg.interactive is not None
    assert msg.interactive["content"]["text"] == 'Ready, A "Q" Rao?'


def test_send_interactive_list_offers_every_row() -> None:
    message = {
        "type": "list",
        "title": "Menu",
        "body": "Choose a topic, @contact.name",
        "globalButtons": [{"type": "text", "title": "Topics"}],
        "items": [
            {"title": "Health", "options": [{"type": "text", "title": "Diet"}]},
            {"title": "Money", "options": [{"type": "text", "title": "Loans"}, {"title": "Tax"}]},
        ],
    }
    chat = Chat(FlowBuilder().node("n", interactive(message)), contact=Contact(name="Asha"))
    chat.start()
    [msg] = chat.of_type(ev.MsgOut)
    assert msg.text == "Choose a topic, Asha"
    assert msg.quick_replies == ["Diet", "Loans", "Tax"]


def test_send_interactive_with_attachment() -> None:
    message = {
        "type": "quick_reply",
        "content": {"type": "image", "url": "https://x.org/a.png", "text": "Look"},
        "options": [{"type": "text", "title": "Nice"}],
    }
    chat = Chat(FlowBuilder().node("n", interactive(message)))
    chat.start()
    [msg] = chat.of_type(ev.MsgOut)
    assert msg.attachments == ["image:https://x.org/a.png"]
    assert msg.text == "Look"


def test_send_interactive_that_is_not_json_is_sent_as_text_with_a_warning() -> None:
    chat = Chat(FlowBuilder().node("n", interactive("Hello @contact.name")))
    assert chat.start() == ["Hello Asha Rao"]
    assert any("not valid JSON" in w.text for w in chat.of_type(ev.Warning))


# --- contact changes ---------------------------------------------------------------------------


def ask_then(*actions: dict[str, Any], to: str | None = None) -> FlowBuilder:
    return (
        FlowBuilder()
        .switch(
            "ask",
            cases=[("has_text", [], "Said")],
            wait=True,
            result_name="answer",
            to={"Said": "do"},
        )
        .node("do", *actions, to=to)
    )


def test_set_contact_field_is_visible_to_the_next_action() -> None:
    flow = ask_then(
        act(
            "set_contact_field",
            field={"key": "age_group", "name": "Age Group"},
            value="@results.answer",
        ),
        act("set_contact_field", field={"name": "Home Town"}, value=" Pune "),
        send("@contact.fields.age_group / @fields.age_group / @fields.home_town"),
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say("19") == ["19 / 19 / Pune"]
    assert chat.state.contact.fields == {"age_group": "19", "home_town": "Pune"}
    changed = chat.of_type(ev.ContactFieldChanged)
    assert [(c.key, c.name, c.value) for c in changed] == [
        ("age_group", "Age Group", "19"),
        ("home_town", "Home Town", "Pune"),
    ]


def test_set_contact_name() -> None:
    flow = ask_then(act("set_contact_name", name="@results.answer"), send("Hi @contact.name"))
    chat = Chat(flow)
    chat.start()
    assert chat.say("  Ravi Kumar ") == ["Hi Ravi Kumar"]
    assert chat.state.contact.name == "Ravi Kumar"
    assert [e.name for e in chat.of_type(ev.ContactNameChanged)] == ["Ravi Kumar"]


def test_set_run_result_stores_input_value_category_under_the_snake_cased_name() -> None:
    flow = FlowBuilder().node(
        "n",
        set_result("Favorite Color", "@contact.fields.color", category="Known"),
        send("@results.favorite_color / @results.favorite_color.category"),
    )
    chat = Chat(flow, contact=Contact(fields={"color": "blue"}))
    assert chat.start() == ["blue / Known"]
    stored = chat.results["favorite_color"]
    assert (stored["input"], stored["value"], stored["category"]) == ("blue", "blue", "Known")
    [changed] = chat.of_type(ev.RunResultChanged)
    assert (changed.name, changed.key) == ("Favorite Color", "favorite_color")


GROUP_REF = {"uuid": "10", "name": "STARTED_AB"}


def test_add_contact_groups_adds_once_and_routers_see_it() -> None:
    flow = (
        FlowBuilder()
        .node(
            "n",
            act("add_contact_groups", groups=[GROUP_REF, {"uuid": 9, "name": "Farmers"}]),
            act("add_contact_groups", groups=[GROUP_REF]),
            send("In: @contact.groups"),
            to="check",
        )
        .switch(
            "check",
            operand="@contact.groups",
            cases=[("has_group", ["10", "STARTED_AB"], "AB")],
            to={"AB": "yes"},
        )
        .node("yes", send("you are in AB"))
    )
    chat = Chat(flow)
    # An array renders as goflow renders it.
    assert chat.start() == ["In: [STARTED_AB, Farmers]", "you are in AB"]
    assert [(g.uuid, g.name) for g in chat.state.contact.groups] == [
        ("10", "STARTED_AB"),
        ("9", "Farmers"),
    ]
    assert [e.added for e in chat.of_type(ev.ContactGroupsChanged)] == [["STARTED_AB", "Farmers"]]


MEMBER = Contact(
    groups=[
        Group(uuid="10", name="STARTED_AB"),
        Group(uuid="3", name="Farmers"),
        Group(uuid="4", name="Pune"),
    ]
)


@pytest.mark.parametrize(
    ("fields", "left"),
    [
        ({"groups": [GROUP_REF]}, ["Farmers", "Pune"]),
        ({"groups": [{"uuid": "3", "name": "renamed"}]}, ["STARTED_AB", "Pune"]),
        ({"groups": [{"name": "pune"}]}, ["STARTED_AB", "Farmers"]),
        ({"groups": [], "all_groups": True}, []),
        ({"groups": [{"name": "Nope"}]}, ["STARTED_AB", "Farmers", "Pune"]),
    ],
)
def test_remove_contact_groups(fields: dict[str, Any], left: list[str]) -> None:
    flow = FlowBuilder().node(
        "n", act("remove_contact_groups", **fields), send("left: @contact.groups")
    )
    chat = Chat(flow, contact=MEMBER.model_copy(deep=True))
    assert chat.start() == [f"left: [{', '.join(left)}]"]
    assert [g.name for g in chat.state.contact.groups] == left


def test_add_input_labels_labels_the_last_message() -> None:
    flow = ask_then(act("add_input_labels", labels=[{"uuid": "l1", "name": "Feedback"}]))
    chat = Chat(flow)
    chat.start()
    message = Input(text="Great app", uuid="msg-1")
    chat.resume(message)
    [labelled] = chat.of_type(ev.InputLabelsAdded)
    assert labelled.labels == ["Feedback"]
    assert labelled.input_uuid == "msg-1"


# --- call_webhook --------------------------------------------------------------------------------


def webhook_flow(action: dict[str, Any]) -> Chat:
    flow = ask_then(send("thinking"), to="call")
    flow.nodes.append(webhook_node("call", action))
    chat = Chat(
        flow,
        contact=Contact(
            name="Asha Rao",
            phone="+919876543210",
            language="hi",
            fields={"city": "Pune"},
            groups=[Group(uuid="g1", name="Farmers")],
        ),
    )
    chat.start()
    return chat


def test_function_body_is_parsed_then_templated() -> None:
    body = (
        '{"question_text": "@results.answer", "gpt_model": "gpt-4o", "n": 2, "t": 0.5,'
        ' "json": true, "none": null,'
        ' "nested": {"city": "@fields.city", "list": ["@contact.name", 1]},'
        ' "@contact.language": "key templated too"}'
    )
    chat = webhook_flow(webhook("parse_via_chat_gpt", body, headers={"X-Who": "@contact.phone"}))
    assert chat.say('What is "rain"?') == ["thinking"]
    request = chat.request
    assert request.method == "FUNCTION"
    assert request.url == "parse_via_chat_gpt"
    assert request.result_name == "gpt_response"
    assert request.node_uuid == "call"
    assert request.error is None
    assert request.headers == {"X-Who": "+919876543210"}
    assert request.body == {
        "question_text": 'What is "rain"?',
        "gpt_model": "gpt-4o",
        "n": 2,
        "t": 0.5,
        "json": True,
        "none": None,
        "nested": {"city": "Pune", "list": ["Asha Rao", 1]},
        "hi": "key templated too",
    }
    assert chat.state.wait is not None and chat.state.wait.kind == "webhook"


def test_function_body_whole_contact_and_results() -> None:
    body = '{"contact": "@contact", "results": "@results", "inner": {"c": "@contact"}}'
    chat = webhook_flow(webhook("parse_via_chat_gpt", body))
    chat.say("hello")
    sent = chat.request.body
    contact = sent["contact"]
    assert contact["name"] == "Asha Rao"
    assert contact["phone"] == "+919876543210"
    assert contact["fields"] == {"city": "Pune"}
    assert contact["groups"] == ["Farmers"]
    assert sent["results"]["answer"]["input"] == "hello"
    assert sent["results"]["answer"]["category"] == "Said"
    # Only a top-level value stands for the whole object; deeper it is ordinary text.
    assert sent["inner"] == {"c": "Asha Rao"}
    json.dumps(sent)  # the whole body is still JSON


def test_function_body_that_is_not_json_fails_the_call_with_a_reason() -> None:
    chat = webhook_flow(webhook("parse_via_chat_gpt", '{"question_text": "@results.answer",}'))
    chat.say("hello")
    request = chat.request
    assert request.error is not None
    assert request.error.startswith("body is not valid JSON")


@pytest.mark.parametrize(
    ("answer", "url"),
    [
        ("rice & dal?", "https://api.example.org/s?q=rice%20%26%20dal%3F&n=Asha%20Rao"),
        ("a/b#c=d", "https://api.example.org/s?q=a%2Fb%23c%3Dd&n=Asha%20Rao"),
    ],
)
def test_http_url_values_are_url_encoded(answer: str, url: str) -> None:
    action = webhook(
        "https://api.example.org/s?q=@results.answer&n=@contact.name", "", method="get"
    )
    chat = webhook_flow(action)
    chat.say(answer)
    assert chat.request.method == "GET"
    assert chat.request.url == url


def test_http_body_may_be_plain_text() -> None:
    action = webhook("https://api.example.org/form", "name=@contact.name", method="POST")
    chat = webhook_flow(action)
    chat.say("x")
    assert chat.request.error is None
    assert chat.request.body == "name=Asha Rao"


# --- timed waits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "delay"), [("wait_for_time", "60"), ("wait_for_result", "600")])
def test_timed_wait_pauses_for_delay_seconds(kind: str, delay: str) -> None:
    flow = FlowBuilder().node("n", send("before"), act(kind, delay=delay), send("after"))
    chat = Chat(flow)
    assert chat.start() == ["before"]
    wait = chat.state.wait
    assert wait is not None and wait.kind == "time"
    assert wait.resume_on == later(seconds=int(delay))
    assert [w.timeout_seconds for w in chat.of_type(ev.WaitStarted)] == [int(delay)]
    # Too early: nothing happens.
    assert chat.resume(TimeElapsed(), now=later(seconds=int(delay) - 1)) == []
    assert chat.state.status == "waiting"
    # A message meanwhile does not skip the pause.
    assert chat.say("hello?", now=later(seconds=1)) == []
    assert chat.state.status == "waiting"
    assert chat.resume(TimeElapsed(), now=later(seconds=int(delay))) == ["after"]
    assert chat.state.status == "completed"


# --- unknown actions -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["link_google_sheet", "set_contact_profile", "teleport"])
def test_unknown_action_is_skipped_and_the_flow_carries_on(kind: str) -> None:
    flow = FlowBuilder().node(
        "n", send("one"), act(kind, uuid="odd-1", sheet={"x": 1}), send("two")
    )
    chat = Chat(flow)
    assert chat.start() == ["one", "two"]
    [skipped] = chat.of_type(ev.ActionSkipped)
    assert (skipped.action_type, skipped.action_uuid) == (kind, "odd-1")
    assert "not supported" in skipped.reason
    assert chat.state.status == "completed"
    assert chat.state.failure is None


# --- set_contact_status / set_contact_channel --------------------------------------------------


def test_set_contact_status_stopped_and_the_goodbye_still_goes() -> None:
    flow = FlowBuilder().node(
        "n", act("set_contact_status", status="stopped"), send("You will get no more messages.")
    )
    chat = Chat(flow)
    assert chat.start() == ["You will get no more messages."]
    assert [e.status for e in chat.of_type(ev.ContactStatusChanged)] == ["stopped"]


def test_set_contact_status_unknown_is_skipped_and_the_flow_carries_on() -> None:
    flow = FlowBuilder().node("n", act("set_contact_status", status="paused"), send("Still here"))
    chat = Chat(flow)
    assert chat.start() == ["Still here"]
    assert chat.of_type(ev.ContactStatusChanged) == []
    [skipped] = chat.of_type(ev.ActionSkipped)
    assert "'paused' is not a contact status" in skipped.reason


def test_set_contact_channel_by_name_is_what_contact_channel_reads() -> None:
    flow = FlowBuilder().node(
        "n",
        act("set_contact_channel", channel={"uuid": "c1", "name": "WhatsApp"}),
        send("via @contact.channel"),
    )
    chat = Chat(flow, contact=Contact(channel="gupshup"))
    assert chat.start() == ["via whatsapp"]
    assert chat.state.contact.channel == "whatsapp"
    assert [e.channel for e in chat.of_type(ev.ContactChannelChanged)] == ["whatsapp"]


def test_set_contact_channel_sutra_lacks_is_skipped_and_the_contact_keeps_its_channel() -> None:
    flow = FlowBuilder().node(
        "n", act("set_contact_channel", channel={"uuid": "c2", "name": "Android Channel"})
    )
    chat = Chat(flow, contact=Contact(channel="gupshup"))
    chat.start()
    assert chat.state.contact.channel == "gupshup"
    [skipped] = chat.of_type(ev.ActionSkipped)
    assert "no channel 'Android Channel'" in skipped.reason


# --- add_contact_urn / open_ticket -------------------------------------------------------------


def backup_phone_flow() -> FlowBuilder:
    """goflow's "Phone Numbers" example: ask for a backup number, add it, read it back."""
    return (
        FlowBuilder()
        .switch(
            "ask",
            cases=[("has_phone", [], "Has Phone")],
            wait=True,
            result_name="Backup Phone",
            to={"Has Phone": "add"},
        )
        .node(
            "add",
            act("add_contact_urn", scheme="tel", path="@results.backup_phone"),
            send('@urns.tel | @(join(contact.urns, ","))'),
        )
    )


def test_add_contact_urn_in_the_default_country_is_what_urns_read_at_once() -> None:
    chat = Chat(backup_phone_flow(), env=Environment(default_country="RW"))
    chat.start()
    assert chat.say("my other phone is 0781 234 567") == [
        "tel:+250781234567 | whatsapp:919876543210,tel:+250781234567"
    ]
    [changed] = chat.of_type(ev.ContactURNsChanged)
    assert changed.added == "tel:+250781234567"
    assert chat.state.contact.urns == ["tel:+250781234567"]


def test_add_contact_urn_already_there_changes_nothing() -> None:
    flow = FlowBuilder().node(
        "n", act("add_contact_urn", scheme="whatsapp", path="+91 98765 43210")
    )
    chat = Chat(flow)
    chat.start()
    assert chat.of_type(ev.ContactURNsChanged) == []
    assert chat.state.contact.urns == []


@pytest.mark.parametrize(
    ("scheme", "path", "why"),
    [
        ("tel", "12", "unable to add URN 'tel:12': not a valid phone number in IN"),
        ("mailto", "not an address", "unable to add URN 'mailto:not an address': not an email"),
        ("fax", "123", "unable to add URN 'fax:123': 'fax' is not a URN scheme"),
        ("tel", '@("")', "can't add URN with empty path"),
    ],
)
def test_add_contact_urn_that_is_no_address_is_an_error_naming_it_and_the_flow_goes_on(
    scheme: str, path: str, why: str
) -> None:
    flow = FlowBuilder().node(
        "n", act("add_contact_urn", scheme=scheme, path=path, uuid="urn-step"), send("Thanks")
    )
    chat = Chat(flow, env=Environment(default_country="IN"))
    assert chat.start() == ["Thanks"]
    [error] = chat.of_type(ev.Error)
    assert error.text.startswith(why)
    assert (error.action_type, error.action_uuid) == ("add_contact_urn", "urn-step")
    assert chat.of_type(ev.ContactURNsChanged) == []


def ticket_flow(**top: Any) -> FlowBuilder:
    """Glific's "Ticketing_Help" shape: take the question, open a ticket, route on its result."""
    return (
        FlowBuilder(**top)
        .switch(
            "ask",
            wait=True,
            result_name="query",
            default="All Responses",
            to={"All Responses": "open"},
        )
        .switch(
            "open",
            act(
                "open_ticket",
                topic={"uuid": "t1", "name": "Query"},
                body="@results.query",
                assignee={"email": "Staff@NGO.org", "name": "Staff"},
                result_name="result",
            ),
            operand="@results.result",
            cases=[("has_category", ["Success"], "Success")],
            default="Failure",
            to={"Success": "ok", "Failure": "sorry"},
        )
        .node("ok", send("Ticket @results.result.value is with our team"))
        .node("sorry", send("You have a ticket open already"))
    )


def test_open_ticket_opens_one_and_the_result_holds_its_uuid() -> None:
    chat = Chat(ticket_flow())
    chat.start()
    [sent] = chat.say("My parcel never came")
    [opened] = chat.of_type(ev.TicketOpened)
    assert sent == f"Ticket {opened.uuid} is with our team"
    assert (opened.topic, opened.body, opened.assignee) == (
        "Query",
        "My parcel never came",
        "staff@ngo.org",
    )
    assert chat.state.contact.ticket == opened.uuid
    assert chat.state.runs[0].locals["_new_ticket"] == opened.uuid


def test_open_ticket_with_one_open_already_is_failure_as_goflow() -> None:
    chat = Chat(ticket_flow(), contact=Contact(urn="whatsapp:1", ticket="already-open"))
    chat.start()
    assert chat.say("Again") == ["You have a ticket open already"]
    assert chat.of_type(ev.TicketOpened) == []


def test_open_ticket_in_a_glific_flow_opens_another_as_glific() -> None:
    glific = ticket_flow(vars=[])
    chat = Chat(glific, contact=Contact(urn="whatsapp:1", ticket="already-open"))
    chat.start()
    [sent] = chat.say("Again")
    assert sent.startswith("Ticket ")
    assert len(chat.of_type(ev.TicketOpened)) == 1


def test_open_ticket_of_an_older_export_takes_its_subject_as_topic() -> None:
    flow = FlowBuilder().node(
        "n",
        act(
            "open_ticket",
            ticketer={"uuid": "x", "name": "Email"},
            subject="Help for @contact.name",
            body="Wants a call",
        ),
    )
    chat = Chat(flow)
    chat.start()
    [opened] = chat.of_type(ev.TicketOpened)
    assert (opened.topic, opened.body, opened.assignee) == (
        "Help for Asha Rao",
        "Wants a call",
        None,
    )


def test_open_ticket_done_again_opens_the_same_ticket() -> None:
    """A step replayed after a crash (the same session at the same place) names the same
    ticket, so the store opens no second one."""
    chat = Chat(ticket_flow())
    chat.start()
    waiting = chat.session
    chat.say("Help")
    first = chat.of_type(ev.TicketOpened)[0].uuid
    chat.session = waiting
    chat.say("Help")
    assert chat.of_type(ev.TicketOpened)[0].uuid == first
