"""goflow's context reference, as Sutra provides it: each row is a template a flow sends, the
session it runs in, and what the contact receives.

Rows follow goflow's context docs (docs/md/context.md: ``@contact.first_name`` → Ryan,
``@(contact.groups[1].name)`` → Males, ``@run`` → "Ryan Lewis@Registration"...) for a
Sutra contact; members Sutra cannot know (``@trigger``, ``@contact.created_on``) stay as
written, as any variable that does not resolve.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sutra.engine.session import Contact, Environment, Group

from .flowkit import NOW, Chat, FlowBuilder, enter, render, send, set_result

CONTACT = Contact(
    uuid="5d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f",
    name="Asha Rao",
    urn="whatsapp:919876543210",
    phone="+919876543210",
    channel="Sutra WhatsApp",
    language="hin",
    fields={"city": "Pune", "Age-Group": "Adult"},
    groups=[Group(uuid="g1", name="Farmers"), Group(uuid="g2", name="Pune Volunteers")],
)
RESULTS = {
    "favorite_color": {
        "input": "I like red",
        "value": "red",
        "category": "Red",
        "name": "Favorite Color",
        "node_uuid": "ask",
        "inserted_at": "2026-03-05T09:20:00+00:00",
    },
    "age": {"input": "23", "value": "23", "category": "Number"},
}
ENV = Environment(timezone="Asia/Kolkata", globals={"org_name": "Sutra NGO"})
WEBHOOK = {"status": 200, "json": {"state": "WA", "items": [1, 2]}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # contact
        ("@contact", "Asha Rao"),
        ("@contact.uuid", "5d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f"),
        ("@contact.name / @contact.first_name", "Asha Rao / Asha"),
        ("@contact.language", "hin"),
        ("@contact.urn", "whatsapp:919876543210"),
        ("@contact.urns", "[whatsapp:919876543210]"),
        ("@(contact.urns[0])", "whatsapp:919876543210"),
        ("@(format_urn(contact.urns[0]))", "919876543210"),
        ("@contact.channel", "Sutra WhatsApp"),
        ("@contact.phone", "+919876543210"),
        ("@contact.timezone", "Asia/Kolkata"),
        ("@contact.groups", "[Farmers, Pune Volunteers]"),
        ("@(contact.groups[1].name) @(contact.groups[0].uuid)", "Pune Volunteers g1"),
        ('@(foreach(contact.groups, extract, "name"))', "[Farmers, Pune Volunteers]"),
        ("@(json(contact.groups[1]))", '{"name":"Pune Volunteers","uuid":"g2"}'),
        ("@(count(contact.groups))", "2"),
        ("@contact.fields.city / @fields.city", "Pune / Pune"),
        # a field keyed with a hyphen is read by its snake-cased name, or by its key
        ('@fields.age_group / @(fields["Age-Group"])', "Adult / Adult"),
        ("@(count(contact.fields))", "2"),
        ("@(upper(contact))", "ASHA RAO"),
        # urns by scheme
        ("@urns.whatsapp", "whatsapp:919876543210"),
        ("[@urns.tel]", "[]"),
        ("@(default(urns.tel, urns.whatsapp))", "whatsapp:919876543210"),
        # run
        ("@run", "Asha Rao@Templates"),
        ("@run.status", "active"),
        ("@run.flow.name / @run.flow", "Templates / Templates"),
        ("@run.contact.first_name", "Asha"),
        ("@(len(run.uuid))", "36"),
        ("@run.created_on", "2026-03-05T09:30:00.000000Z"),
        ("[@run.exited_on]", "[]"),
        ("@run.results.favorite_color.category", "Red"),
        # results
        ("@results.favorite_color", "I like red"),
        ("@results.favorite_color.value", "red"),
        ("@results.favorite_color.category", "Red"),
        ("@results.favorite_color.category_localized", "Red"),
        ("@results.favorite_color.input", "I like red"),
        ("@results.favorite_color.name", "Favorite Color"),
        ("@results.favorite_color.node_uuid", "ask"),
        ("@results.favorite_color.created_on", "2026-03-05T09:20:00.000000Z"),
        ("@(format_date(results.favorite_color.created_on))", "05-03-2026"),
        ("@results.age.name", "age"),
        ("@(results.age.value + 1)", "24"),
        # node, flow, globals, locals
        ("@node.uuid / @node.visit_count", "say / 1"),
        ("@flow.name @flow.uuid", "Templates flow-templates"),
        ("@globals.org_name / @global.org_name", "Sutra NGO / Sutra NGO"),
        ("@(count(locals))", "0"),
        # the last webhook
        ("@webhook.status @webhook.json.state", "200 WA"),
        ("@webhook", "200"),
        ("@(webhook.json.items[1])", "2"),
        ("@legacy_extra.state", "WA"),
        # time: the organisation's zone
        ("@(now())", "2026-03-05T15:00:00.000000+05:30"),
        ("@(today()) @(format(now()))", "2026-03-05 05-03-2026 15:00"),
        ("@(tz(now()))", "Asia/Kolkata"),
        # what Sutra cannot know stays as written
        ("@trigger.type", "@trigger.type"),
        ("@contact.created_on", "@contact.created_on"),
    ],
)
def test_context_member(template: str, expected: str) -> None:
    text = render(template, results=RESULTS, contact=CONTACT, env=ENV, webhook=WEBHOOK)
    assert text == expected


def test_a_contact_without_a_name_renders_as_its_address() -> None:
    assert render("Hi @contact!", contact=Contact(urn="whatsapp:919876543210")) == (
        "Hi 919876543210!"
    )


def test_a_result_saved_by_a_router_keeps_its_name_and_node() -> None:
    flow = (
        FlowBuilder()
        .switch(
            "ask",
            cases=[("has_text", [], "Said")],
            wait=True,
            result_name="Favorite Color",
            to={"Said": "say"},
        )
        .node(
            "say",
            send(
                "@results.favorite_color.name | @results.favorite_color.node_uuid | "
                "@results.favorite_color.created_on | @node.uuid"
            ),
        )
    )
    chat = Chat(flow)
    chat.start()
    later = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    assert chat.say("blue", now=later) == [
        "Favorite Color | ask | 2026-03-05T10:00:00.000000Z | say"
    ]


def test_input_renders_its_text_and_attachments() -> None:
    flow = (
        FlowBuilder()
        .switch("ask", cases=[("has_text", [], "Said")], wait=True, to={"Said": "say"})
        .node(
            "say",
            send("@input | @input.text | @input.type | @input.attachments | @input.urn"),
        )
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say("a cow", attachments=["image/jpeg:https://x.org/cow.jpg"]) == [
        "a cow\nhttps://x.org/cow.jpg | a cow | msg | [image/jpeg:https://x.org/cow.jpg]"
        " | whatsapp:919876543210"
    ]


def test_node_visit_count_counts_this_runs_visits() -> None:
    flow = FlowBuilder().switch(
        "ask",
        send("visit @node.visit_count"),
        cases=[("has_only_text", "again", "Again")],
        wait=True,
        to={"Again": "ask"},
    )
    chat = Chat(flow)
    assert chat.start() == ["visit 1"]
    assert chat.say("again") == ["visit 2"]


def test_parent_and_child_runs() -> None:
    child = FlowBuilder("Child", "flow-child").node(
        "hello",
        set_result("topic", "fractions"),
        send("from @parent: @parent.flow.name @parent.status @parent.contact.first_name"),
    )
    parent = (
        FlowBuilder("Parent", "flow-parent")
        .node("start", enter("flow-child"), to="back")
        .node(
            "back",
            send(
                "@child | @child.flow.name | @child.status | @child.results.topic | "
                "@(child.run.status) | @(json(child.urns.whatsapp))"
            ),
        )
    )
    chat = Chat(parent, child)
    assert chat.start() == [
        "from Asha Rao@Parent: Parent active Asha",
        'Asha Rao@Child | Child | completed | fractions | completed | "whatsapp:919876543210"',
    ]


def test_a_missing_parent_is_null_and_its_members_errors() -> None:
    assert render('@(default(parent.flow.name, "no parent")) [@(json(parent))]') == ("no parent []")


def test_a_webhook_body_sends_the_contact_and_results_as_before() -> None:
    # The goflow members offered beside them (urns, channel, created_on, name...) are aliases:
    # a body that sends @contact or @results whole carries the stored keys only.
    from .flowkit import webhook, webhook_node

    flow = FlowBuilder().switch(
        "ask",
        cases=[("has_text", [], "Said")],
        wait=True,
        result_name="answer",
        to={"Said": "call"},
    )
    flow.nodes.append(webhook_node("call", webhook(body='{"c": "@contact", "r": "@results"}')))
    chat = Chat(flow)
    chat.start()
    chat.say("hello")
    body: dict[str, Any] = chat.request.body
    assert set(body["c"]) == {
        "uuid",
        "id",
        "name",
        "first_name",
        "phone",
        "urn",
        "language",
        "fields",
        "groups",
    }
    assert set(body["r"]["answer"]) == {
        "input",
        "value",
        "category",
        "inserted_at",
        "name",
        "node_uuid",
    }
    assert body["r"]["answer"]["name"] == "answer"


def test_now_without_a_time_zone_is_utc() -> None:
    assert render("@(now())", now=NOW) == "2026-03-05T09:30:00.000000Z"
