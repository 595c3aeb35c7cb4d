"""Legacy RapidPro exports run after migration as their authors wrote them: what a contact is
sent, what is saved, and what the import says it will skip (real files of
``../shared/real-flows``, and small legacy flows written here)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from sutra.engine import events as ev
from sutra.engine.engine import Timeout
from sutra.engine.session import Contact, Group
from sutra.flows import FlowFileError, parse_flow_file, read_flow_file
from sutra.flows.legacy.expressions import migrate_template
from sutra.flows.legacy.old_syntax import migrate_v7_syntax

from .flowkit import REAL_FLOWS, Chat, later, render

real_files = pytest.mark.skipif(
    not REAL_FLOWS.is_dir(), reason=f"the shared real flows are not at {REAL_FLOWS}"
)


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class NoAnswer:
    minutes: int


@dataclass(frozen=True)
class WebhookAnswers:
    status: int
    json: dict[str, Any] = field(default_factory=dict)


Step = tuple[Say | NoAnswer | WebhookAnswers | None, list[str]]


@dataclass
class Scenario:
    file: str
    steps: list[Step]
    flow: str | None = None
    contact: Contact | None = None
    # result key: (value, category) once the steps are done
    results: dict[str, tuple[str, str]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    groups: list[str] | None = None


SCENARIOS = {
    "v3 survey: number ranges pick the category": Scenario(
        "rapidpro-2019/the_clinic.json",
        flow="Appointment Followup",
        steps=[
            (
                None,
                [
                    "Thanks for choosing The Clinic. Your business is very important to us. To "
                    "help us better serve you would you be interested in participating in a "
                    "short survey?"
                ],
            ),
            (
                Say("yes"),
                [
                    "On a scale of 1 to 10, How likely are you to recommend The Clinic to your "
                    "friends and family, 10 being very likely."
                ],
            ),
            (
                Say("9"),
                [
                    "That's wonderful. We are always striving to provide the best patient care "
                    "possible. Can you share what part of your experience you were most pleased "
                    "with?"
                ],
            ),
            (
                Say("friendly staff"),
                [
                    "Your feedback is extremely valuable to us. Thank you for helping us serve "
                    "you better. We hope you continue to choose The Clinic."
                ],
            ),
        ],
        results={
            "survey": ("yes", "Yes"),
            "rating": ("9", "Very Likely"),
            "doing_well": ("friendly staff", "All Responses"),
        },
        fields={"rating": "9"},
    ),
    "v3 date after today, then a flow it starts": Scenario(
        "rapidpro-2019/the_clinic.json",
        flow="Register Patient",
        steps=[
            (
                None,
                ["Thanks for registering for SMS alerts for The Clinic. When is your appointment?"],
            ),
            (
                Say("12/04/2026"),
                [
                    "Great, thanks for registering, we'll make sure to keep you in the loop as "
                    "your appointment grows nearer.",
                    "I was triggered from another flow",
                ],
            ),
        ],
        results={"next_appointment": ("2026-04-12T09:30:00.000000Z", "After Today")},
        fields={"next_appointment": "2026-04-12T09:30:00.000000Z"},
        groups=["Pending Appointments"],
    ),
    "v4 translations for a Spanish-speaking contact": Scenario(
        "rapidpro-legacy/multi_language_flow.json",
        contact=Contact(name="Ana", language="es"),
        steps=[
            (None, ["¡Hola amigo! ¿Cuál es tu color favorito?"]),
            # The rule's words in her language, as goflow tests a case's translated arguments.
            (Say("Blue"), ["Por favor, una vez más"]),
            (Say("azul"), ["¡Gracias! Me gusta azul.", "This message was not translated."]),
        ],
        results={"color": ("azul", "Blue")},
    ),
    "v4 webhook on a rule set: wait, call, split on the response": Scenario(
        "rapidpro-legacy/favorites_bad_group_name_v4.json",
        steps=[
            (None, ["What is your favorite color?"]),
            (Say("something blue"), []),
            (
                WebhookAnswers(200, {"value": "blue"}),
                ["Good choice, I like Blue too! What is your favorite beer?"],
            ),
        ],
        results={"color": ("blue", "Blue"), "color_response": ("something blue", "All Responses")},
        groups=["< 25"],
    ),
    "v7 favorites: results read back by category and value": Scenario(
        "rapidpro-legacy/favorites.json",
        steps=[
            (None, ["What is your favorite color?"]),
            (Say("green"), ["Good choice, I like Green too! What is your favorite beer?"]),
        ],
        results={"color": ("green", "Green")},
    ),
    "v9 a wait that times out": Scenario(
        "rapidpro-2019/timeout.json",
        steps=[
            (None, ["Hi there, what is your name?"]),
            (NoAnswer(minutes=6), ["Don't worry about it , we'll catch up next week."]),
        ],
        results={"name": ("", "No Response")},
    ),
    "v9 the same wait answered in time": Scenario(
        "rapidpro-2019/timeout.json",
        steps=[
            (None, ["Hi there, what is your name?"]),
            (Say("Ravi"), ["Great. Good to meet you Ravi"]),
        ],
    ),
    "v9 sub-flow: the child's result back in the parent": Scenario(
        "rapidpro-2019/subflow.json",
        flow="Parent Flow",
        steps=[
            (None, ["This is a parent flow. What would you like to do?"]),
            (Say("color"), ["What color do you like?"]),
            (Say("I like green"), ["Complete: You picked Green."]),
        ],
        results={"kind": ("color", "Color"), "subflow": ("completed", "Complete")},
    ),
    "11.5 split by group, for a member": Scenario(
        "rapidpro-2019/cataclysm_legacy.json",
        flow="Cataclysmic",
        contact=Contact(
            name="Cat",
            groups=[Group(uuid="c7bc1eef-b7aa-4959-ab90-3e33e0d3b1f9", name="Cat Facts")],
        ),
        steps=[(None, ["You are a cat fan! Purrrrr.", "All done."])],
        groups=["Cat Facts", "Cat Fanciers", "Catnado"],
    ),
    "11.5 split by group, for anyone else": Scenario(
        "rapidpro-2019/cataclysm_legacy.json",
        flow="Cataclysmic",
        contact=Contact(name="Dog"),
        steps=[(None, ["You are not a cat fan. Hissssss.", "All done."])],
        groups=[],
    ),
    "11.12 registration: name and a number saved": Scenario(
        "goflow-legacy/legacy_registration.json",
        steps=[
            (None, ["Hi there. What is your name?"]),
            (Say("Ravi"), ["Ok Ravi, what age are you?"]),
            (Say("15"), ["Great, you are 15 years old"]),
        ],
        results={"name": ("Ravi", "All Responses"), "age": ("15", "10 - 100")},
    ),
    "v8 USSD menu: the menu is sent as a message": Scenario(
        "rapidpro-2019/ussd_example.json",
        steps=[
            (
                None,
                [
                    "What would you like to read about?\n1: I'm interested in sports\n"
                    "2: I'm interested in politics\n3: I'm interested in movies"
                ],
            ),
            (Say("2"), ["Thank you!\n1: dfdf"]),
        ],
        results={"response_1": ("2", "Politics")},
    ),
}


def _chat(scenario: Scenario) -> tuple[Chat, str]:
    loaded = read_flow_file(REAL_FLOWS / scenario.file)
    chat = Chat(*(flow.flow for flow in loaded.flows), contact=copy.deepcopy(scenario.contact))
    return chat, loaded.find(scenario.flow).flow.uuid


@real_files
@pytest.mark.parametrize("name", SCENARIOS)
def test_a_migrated_flow_talks_as_it_did(name: str) -> None:
    scenario = SCENARIOS[name]
    chat, flow_uuid = _chat(scenario)

    for step, expected in scenario.steps:
        if step is None:
            sent = chat.start(flow_uuid)
        elif isinstance(step, Say):
            sent = chat.say(step.text)
        elif isinstance(step, NoAnswer):
            sent = chat.resume(Timeout(), now=later(minutes=step.minutes))
        else:
            sent = chat.answer_webhook(step.status, step.json)
        assert sent == expected, step

    results = {key: (r.get("value"), r.get("category")) for key, r in chat.results.items()}
    assert results.items() >= scenario.results.items()
    assert chat.state.contact.fields.items() >= scenario.fields.items()
    if scenario.groups is not None:
        assert [group.name for group in chat.state.contact.groups] == scenario.groups


@real_files
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, ["Webhook was successful", "Result category: Success", "Extra: bar"]),
        (500, ["Webhook failed"]),
    ],
)
def test_a_webhook_rule_set_calls_and_routes_on_the_outcome(
    status: int, expected: list[str]
) -> None:
    loaded = read_flow_file(REAL_FLOWS / "goflow-legacy/legacy_webhook.json")
    chat = Chat(*(flow.flow for flow in loaded.flows))
    assert chat.start() == []
    assert (chat.request.method, chat.request.url) == ("POST", "http://localhost/?cmd=foo")
    # A legacy webhook POSTed the run: the contact and what it answered go along.
    assert chat.request.body.startswith('{"contact": {')

    [sent] = chat.answer_webhook(status, {"foo": "bar"})

    assert all(part in sent for part in expected), sent


@real_files
@pytest.mark.parametrize(
    ("file", "skipped"),
    [
        # Its add_contact_urn runs now.
        ("rapidpro-2019/action_packed.json", set()),
        ("rapidpro-2019/ivr_flow.json", {"say_msg", "play_audio"}),
        ("rapidpro-2019/resthooks.json", {"call_resthook"}),
        (
            "rapidpro-2019/cataclysm_legacy.json",
            set(),
        ),
        ("rapidpro-2019/favorites_timeout.json", set()),
    ],
)
def test_the_import_names_what_sutra_will_skip(file: str, skipped: set[str]) -> None:
    warnings = read_flow_file(REAL_FLOWS / file).warnings

    named = {w.message.split('"')[1] for w in warnings if "is not supported" in w.message}
    assert named == skipped, [str(w) for w in warnings]


# --- small legacy flows written here ----------------------------------------------------------


def legacy_export(*action_sets: dict[str, Any], rule_sets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "11.12",
        "flows": [
            {
                "version": "11.12",
                "flow_type": "M",
                "base_language": "eng",
                "entry": action_sets[0]["uuid"],
                "metadata": {"uuid": "f0000000-0000-4000-8000-000000000001", "name": "Quiz"},
                "action_sets": list(action_sets),
                "rule_sets": rule_sets,
            }
        ],
    }


def action_set(
    uuid: str, *actions: dict[str, Any], to: str | None = None, y: int = 0
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "x": 0,
        "y": y,
        "destination": to,
        "exit_uuid": f"{uuid}-exit",
        "actions": list(actions),
    }


def reply(uuid: str, **languages: str) -> dict[str, Any]:
    return {"type": "reply", "uuid": uuid, "msg": languages}


def rule(
    uuid: str, test: dict[str, Any], category: dict[str, str], to: str | None
) -> dict[str, Any]:
    return {"uuid": uuid, "test": test, "category": category, "destination": to}


def quiz() -> dict[str, Any]:
    """Ask (with quick replies in two languages), split on the answer, then call a webhook."""
    ask = reply("ask", eng="Is the sky blue?", fra="Le ciel est-il bleu ?")
    ask["quick_replies"] = [{"eng": "Yes", "fra": "Oui"}, {"eng": "No", "fra": "Non"}]
    answer = {
        "uuid": "answer",
        "x": 0,
        "y": 100,
        "label": "Sky",
        "ruleset_type": "wait_message",
        "operand": "@step.value",
        "config": {},
        "rules": [
            rule(
                "r-yes",
                {"type": "contains_any", "test": {"eng": "yes", "fra": "oui"}},
                {"eng": "Yes", "fra": "Oui"},
                "right",
            ),
            rule(
                "r-no",
                {"type": "contains_any", "test": {"eng": "no", "fra": "non"}},
                {"eng": "No", "fra": "Non"},
                "wrong",
            ),
            rule("r-other", {"type": "true"}, {"eng": "Other", "fra": "Autre"}, "ask"),
        ],
    }
    right = action_set(
        "right",
        reply("yay", eng="Right, @contact.first_name! You said @step.value.", fra="Oui !"),
        {
            "type": "api",
            "uuid": "call",
            "webhook": "https://example.org/score?who=@contact.uuid",
            "action": "GET",
        },
        reply("after", eng="Your score: @extra.score"),
        y=200,
    )
    wrong = action_set("wrong", reply("nay", eng="Look again: it is @flow.sky.category."), y=200)
    return legacy_export(action_set("ask", ask, to="answer"), right, wrong, rule_sets=[answer])


def test_texts_and_quick_replies_reach_a_contact_in_their_language() -> None:
    chat = Chat(
        *(f.flow for f in parse_flow_file(quiz()).flows), contact=Contact(name="Zoé", language="fr")
    )

    assert chat.start() == ["Le ciel est-il bleu ?"]
    [question] = chat.of_type(ev.MsgOut)
    assert question.quick_replies == ["Oui", "Non"]
    assert chat.say("Yes") == ["Le ciel est-il bleu ?"]
    assert chat.say("Oui") == ["Oui !"]


def test_a_webhook_action_becomes_a_call_between_the_actions_around_it() -> None:
    chat = Chat(*(f.flow for f in parse_flow_file(quiz()).flows))

    assert chat.start() == ["Is the sky blue?"]
    assert chat.say("yes it is") == ["Right, Asha! You said yes it is."]
    assert chat.request.url == f"https://example.org/score?who={chat.state.contact.uuid}"
    assert chat.answer_webhook(200, {"score": 7}) == ["Your score: 7"]


def test_a_category_reads_back_in_the_base_language() -> None:
    chat = Chat(*(f.flow for f in parse_flow_file(quiz()).flows))
    chat.start()

    assert chat.say("no") == ["Look again: it is No."]
    assert chat.results["sky"]["category"] == "No"


def test_a_legacy_flow_that_cannot_be_read_is_refused_by_its_path() -> None:
    broken = quiz()
    broken["flows"][0]["action_sets"] = "not a list"

    with pytest.raises(FlowFileError, match=r"^flows\[0\]\.action_sets: expected a list"):
        parse_flow_file(broken)


def test_what_is_not_a_flow_is_still_refused() -> None:
    with pytest.raises(FlowFileError, match=r'^\$: not a flow file: .*"action_sets"'):
        parse_flow_file({"action_set": []})


def test_spec_12_definitions_get_categories() -> None:
    definition = {
        "uuid": "f0000000-0000-4000-8000-000000000012",
        "name": "Age",
        "spec_version": "12.0.0",
        "language": "base",
        "nodes": [
            {
                "uuid": "ask",
                "actions": [{"type": "send_msg", "uuid": "a1", "text": "How old are you?"}],
                "exits": [{"uuid": "e0", "destination_node_uuid": "age"}],
            },
            {
                "uuid": "age",
                "wait": {"type": "msg"},
                "router": {
                    "type": "switch",
                    "result_name": "Age",
                    "operand": "@input",
                    "default_exit_uuid": "e2",
                    "cases": [{"uuid": "c1", "type": "has_number", "exit_uuid": "e1"}],
                },
                "exits": [
                    {"uuid": "e1", "destination_node_uuid": "thanks", "name": "Number"},
                    {"uuid": "e2", "destination_node_uuid": "ask", "name": "Other"},
                ],
            },
            {
                "uuid": "thanks",
                "actions": [{"type": "send_msg", "uuid": "a2", "text": "You are @results.age."}],
                "exits": [{"uuid": "e3"}],
            },
        ],
    }
    chat = Chat(*(f.flow for f in parse_flow_file(definition).flows))

    assert chat.start() == ["How old are you?"]
    assert chat.say("ten?") == ["How old are you?"]
    assert chat.say("I am 10") == ["You are I am 10."]
    assert chat.results["age"]["category"] == "Number"


# --- legacy expressions, as a contact reads them ------------------------------------------------

RESULTS = {
    "age": {"input": "I am 19", "value": "19", "category": "Adult"},
    "color": {"input": "light blue", "value": "blue", "category": "Blue"},
}
CONTACT = Contact(name="Asha Rao", phone="+919876543210", fields={"district": "Pune"})


@pytest.mark.parametrize(
    ("legacy", "shown"),
    [
        ("Hi @contact.name (@contact.first_name)", "Hi Asha Rao (Asha)"),
        ("From @contact.district", "From Pune"),
        ("Call @contact.tel", "Call +919876543210"),
        ("@flow.age / @flow.age.text / @flow.age.category", "19 / I am 19 / Adult"),
        ("@FLOW.Color.VALUE", "blue"),
        ("@(flow.age + 1)", "20"),
        ('@("Hi " & contact.first_name & "!")', "Hi Asha!"),
        ('@(IF(flow.age > 18, "adult", "minor"))', "adult"),
        ("@(flow.age <> 19)", "false"),
        ("@(TRUE)", "true"),
        ("@date.today", "5/03/2026"),
        ("@extra.score points", "7 points"),
        ("mail bob@example.org, not @@flow.age", "mail bob@example.org, not @flow.age"),
        ("@unknown.thing stays", "@unknown.thing stays"),
    ],
)
def test_legacy_expressions_read_the_same(legacy: str, shown: str) -> None:
    rendered = render(
        migrate_template(legacy),
        results=RESULTS,
        contact=CONTACT,
        webhook={"status": 200, "json": {"score": 7}},
    )
    assert rendered == shown


@pytest.mark.parametrize(
    ("legacy", "shown"),
    [
        ("=(flow.age + 1) years", "20 years"),
        ("=contact.name!", "Asha Rao!"),
        ("@date.today|time_delta:'0'", "5/03/2026"),
        ("a=b stays", "a=b stays"),
    ],
)
def test_expressions_of_version_7_and_before_read_the_same(legacy: str, shown: str) -> None:
    rendered = render(migrate_template(migrate_v7_syntax(legacy)), results=RESULTS, contact=CONTACT)
    assert rendered == shown
