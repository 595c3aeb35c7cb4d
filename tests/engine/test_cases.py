"""Router case tests (contract section 3): which category a reply takes, and the stored result."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sutra.engine import events as ev
from sutra.engine.session import Contact, Environment, Group

from .flowkit import Chat, FlowBuilder, act, later, send, set_result

# (case type, arguments, what the contact sends, the value extracted or None for no match)
TEXT_CASES: list[tuple[str, str | list[str], str, str | None]] = [
    ("has_any_word", "yes y ok", "Yes please", "Yes"),
    ("has_any_word", "red,blue", "I like BLUE!", "BLUE"),
    ("has_any_word", "yes", "yesterday", None),
    ("has_all_words", "quick fox", "the Quick brown fox", "Quick fox"),
    ("has_all_words", "quick fox", "the quick brown dog", None),
    ("has_phrase", "create new profile", "I want to Create New Profile now", "Create New Profile"),
    ("has_phrase", "create new profile", "create a new profile", None),
    ("has_only_phrase", "switch user", "  Switch   User ", "Switch User"),
    ("has_only_phrase", "switch user", "please switch user", None),
    ("has_only_text", "Success", "  Success ", "Success"),
    ("has_only_text", "Success", "success", None),
    ("has_only_text", "Success", "Success!", None),
    ("has_beginning", "yes", "Yes sir", "Yes"),
    ("has_beginning", "yes", "Oh yes", None),
    ("has_text", [], "  hello  ", "hello"),
    ("has_text", [], "    ", None),
    ("has_multiple", ["1", "2", "3"], "1, 3", "1, 3"),
    ("has_multiple", ["1", "2", "3"], "1 2", "1, 2"),
    ("has_multiple", ["1", "2", "3"], "1, 4", None),
    ("has_number", [], "I am 12 years old", "12"),
    ("has_number", [], "-3.5 degrees", "-3.5"),
    # goflow stores the number, not its spelling: grouping dropped, any script's digits.
    ("has_number", [], "we need 25,000 rupees", "25000"),
    ("has_number", [], "१२,५००", "12500"),
    ("has_number", [], ".51", "0.51"),
    ("has_number_gt", "10", "between 1 and 50", "50"),
    ("has_number", [], "twelve", None),
    ("has_number_eq", "1", "1", "1"),
    ("has_number_eq", "1", "option 2", None),
    ("has_number_lt", "5", "4.5", "4.5"),
    ("has_number_lt", "5", "5", None),
    ("has_number_lte", "5", "5", "5"),
    ("has_number_lte", "5", "6", None),
    ("has_number_gt", "5", "6", "6"),
    ("has_number_gt", "5", "5", None),
    ("has_number_gte", "5", "5", "5"),
    ("has_number_gte", "5", "4", None),
    ("has_number_between", ["1", "10"], "1", "1"),
    ("has_number_between", ["1", "10"], "10", "10"),
    ("has_number_between", ["1", "10"], "age 5.5", "5.5"),
    ("has_number_between", ["1", "10"], "0", None),
    ("has_number_between", ["1", "10"], "11", None),
    ("has_number_between", ["1", "10"], "ten", None),
    ("has_phone", [], "call me on +91 98123 45678 please", "+919812345678"),
    ("has_phone", [], "call me at 12", None),
    ("has_phone", "IN", "call 098123 45678", "+919812345678"),
    ("has_phone", "IN", "call 12345", None),
    ("has_email", [], "write to Asha.K@example.org.", "Asha.K@example.org"),
    ("has_email", [], "asha at example dot org", None),
    ("has_pattern", r"^\d{6}$", "411001", "411001"),
    ("has_pattern", r"^\d{6}$", "4110", None),
    # A date is stored as goflow stores it: that day, at the time given or the time it is now.
    ("has_date", [], "born 14/08/1990", "1990-08-14T09:30:00.000000Z"),
    ("has_date", [], "2001-02-03", "2001-02-03T09:30:00.000000Z"),
    ("has_date", [], "on 14/08/1990 at 22:15", "1990-08-14T22:15:00.000000Z"),
    ("has_date", [], "no date here", None),
    ("has_date_lt", "2026-03-05", "1/1/2026", "2026-01-01T09:30:00.000000Z"),
    ("has_date_lt", "2026-03-05", "6/3/2026", None),
    ("has_date_gt", "today", "tomorrow", "2026-03-06T09:30:00.000000Z"),
    ("has_date_gt", "today", "yesterday", None),
    ("has_date_eq", "2026-03-05", "today", "2026-03-05T09:30:00.000000Z"),
    ("has_date_eq", "2026-03-05", "4/3/2026", None),
    ("has_time", [], "meet at 5:30 pm", "17:30:00.000000"),
    ("has_time", [], "at 10 PM", "22:00:00.000000"),
    ("has_time", [], "meet soon", None),
]


def one_case_chat(
    kind: str,
    args: str | Sequence[str],
    *,
    operand: str = "@input.text",
    before: Sequence[dict] = (),
    contact: Contact | None = None,
    env: Environment | None = None,
) -> Chat:
    flow = (
        FlowBuilder("Cases")
        .switch(
            "ask",
            *before,
            cases=[(kind, args, "Match")],
            operand=operand,
            wait=True,
            result_name="Answer",
            to={"Match": "yes", "Other": "no"},
        )
        .node("yes", send("matched @results.answer.value"))
        .node("no", send("no match for @results.answer"))
    )
    chat = Chat(flow, contact=contact, env=env)
    assert chat.start() == []
    return chat


@pytest.mark.parametrize(("kind", "args", "text", "expected"), TEXT_CASES)
def test_text_case(kind: str, args: str | list[str], text: str, expected: str | None) -> None:
    chat = one_case_chat(kind, args)
    sent = chat.say(text)
    result = chat.results["answer"]
    if expected is None:
        assert sent == [f"no match for {text.strip()}"]
        assert result["category"] == "Other"
    else:
        assert sent == [f"matched {expected}"]
        assert result["category"] == "Match"
        assert result["value"] == expected
    assert chat.state.status == "completed"


GROUPED = Contact(name="Ravi", groups=[Group(uuid="5", name="STARTED_AB")])
IMAGE = "image/jpeg:https://cdn.example.org/a.jpg"
AUDIO = "audio/ogg:https://cdn.example.org/v.ogg"
VIDEO = "video/mp4:https://cdn.example.org/v.mp4"
PDF = "application/pdf:https://cdn.example.org/f.pdf"


@pytest.mark.parametrize(
    ("kind", "args", "attachments", "expected"),
    [
        ("has_media", [], [IMAGE], "https://cdn.example.org/a.jpg"),
        ("has_media", [], [], None),
        ("has_image", [], [IMAGE], "https://cdn.example.org/a.jpg"),
        ("has_image", [], [AUDIO], None),
        ("has_audio", [], [AUDIO], "https://cdn.example.org/v.ogg"),
        ("has_audio", [], [IMAGE], None),
        ("has_video", [], [VIDEO], "https://cdn.example.org/v.mp4"),
        ("has_video", [], [IMAGE], None),
        ("has_file", [], [PDF], "https://cdn.example.org/f.pdf"),
        ("has_file", [], [VIDEO], None),
        ("has_location", [], ["geo:12.97,77.59"], "12.97,77.59"),
        ("has_location", [], [IMAGE], None),
    ],
)
def test_attachment_case(
    kind: str, args: list[str], attachments: list[str], expected: str | None
) -> None:
    chat = one_case_chat(kind, args)
    sent = chat.say("", attachments=attachments)
    if expected is None:
        assert chat.results["answer"]["category"] == "Other"
        assert sent[0].startswith("no match")
    else:
        assert sent == [f"matched {expected}"]
        assert chat.results["answer"]["category"] == "Match"


def test_location_typed_as_coordinates_matches() -> None:
    chat = one_case_chat("has_location", [])
    assert chat.say(" 18.52, 73.85 ") == ["matched 18.52,73.85"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["5", "STARTED_AB"], "STARTED_AB"), (["started_ab"], "STARTED_AB"), (["9", "Other"], None)],
)
def test_has_group(args: list[str], expected: str | None) -> None:
    chat = one_case_chat("has_group", args, operand="@contact.groups", contact=GROUPED)
    sent = chat.say("anything")
    assert sent == ([f"matched {expected}"] if expected else ["no match for [STARTED_AB]"])


@pytest.mark.parametrize(("category", "matches"), [("Okay", True), ("okay", True), ("Sad", False)])
def test_has_category_reads_the_category_of_an_earlier_result(category: str, matches: bool) -> None:
    chat = one_case_chat(
        "has_category",
        ["Happy", "Okay"],
        operand="@results.mood",
        before=[set_result("Mood", "fine", category=category)],
    )
    chat.say("whatever")
    assert chat.results["answer"]["category"] == ("Match" if matches else "Other")


def test_has_pattern_groups_are_readable() -> None:
    flow = (
        FlowBuilder()
        .switch(
            "ask",
            cases=[("has_pattern", r"(?P<city>[a-z]+)-(\d{6})", "Pin")],
            wait=True,
            result_name="pin",
            to={"Pin": "say"},
        )
        .node(
            "say",
            send("@results.pin.value / @results.pin.extra.city / @results.pin.extra.2"),
        )
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say("my pin: Pune-411001") == ["Pune-411001 / Pune / 411001"]


def test_input_is_trimmed_and_result_has_input_value_category() -> None:
    flow = FlowBuilder().switch(
        "ask", cases=[("has_any_word", "blue", "Blue")], wait=True, result_name="Favorite Color"
    )
    chat = Chat(flow)
    chat.start()
    chat.say("   I like blue  \n")
    assert set(chat.results) == {"favorite_color"}
    result = chat.results["favorite_color"]
    assert result["input"] == "I like blue"
    assert result["value"] == "blue"
    assert result["category"] == "Blue"


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ([("has_any_word", "blue", "Cool"), ("has_phrase", "dark blue", "Dark")], "Cool"),
        ([("has_phrase", "dark blue", "Dark"), ("has_any_word", "blue", "Cool")], "Dark"),
    ],
)
def test_first_matching_case_wins(order: list[tuple[str, str, str]], expected: str) -> None:
    flow = FlowBuilder().switch("ask", cases=order, wait=True, result_name="shade")
    chat = Chat(flow)
    chat.start()
    chat.say("Dark blue")
    assert chat.results["shade"]["category"] == expected


def test_no_matching_case_takes_the_default_category_and_keeps_the_text() -> None:
    flow = (
        FlowBuilder()
        .switch(
            "ask",
            cases=[("has_any_word", "red", "Red"), ("has_any_word", "blue", "Blue")],
            wait=True,
            result_name="color",
            to={"Other": "other"},
        )
        .node("other", send("@results.color.category: @results.color.value"))
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say(" purple ") == ["Other: purple"]


@pytest.mark.parametrize(
    "template",
    [
        "@results.favorite_color",
        "@results.Favorite_Color",
        "@results.FAVORITE_COLOR.input",
        "@(results.favorite_color)",
    ],
)
def test_result_is_readable_by_snake_case_and_by_the_typed_name(template: str) -> None:
    flow = (
        FlowBuilder()
        .switch(
            "ask",
            cases=[("has_text", [], "Any")],
            wait=True,
            result_name="Favorite Color",
            to={"Any": "say"},
        )
        .node("say", send(f"got {template} / @results.favorite_color.category"))
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say("Teal") == ["got Teal / Any"]


def test_result_named_in_capitals_reads_as_typed() -> None:
    flow = (
        FlowBuilder()
        .switch(
            "ask",
            cases=[("has_number", [], "Number")],
            wait=True,
            result_name="Age",
            to={"Number": "say"},
        )
        .node("say", send("@results.Age is @results.age.category"))
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say("I am 31") == ["I am 31 is Number"]


def test_unsupported_case_never_matches_and_routes_on() -> None:
    flow = FlowBuilder().switch(
        "ask",
        act("send_msg", text="Hi"),
        cases=[("has_intent", "greet", "Greet")],
        wait=True,
        result_name="intent",
    )
    chat = Chat(flow)
    assert chat.start() == ["Hi"]
    chat.say("hello")
    assert chat.results["intent"]["category"] == "Other"
    assert chat.state.status == "completed"
    assert any("has_intent" in w.text for w in chat.of_type(ev.Warning))


@pytest.mark.parametrize(
    ("timezone", "matches"), [("Asia/Kolkata", True), ("UTC", False), ("America/Lima", False)]
)
def test_today_is_the_date_in_the_organisation_time_zone(timezone: str, matches: bool) -> None:
    # 20:00 UTC on 5 March is already 6 March in India.
    chat = one_case_chat("has_date_eq", "today", env=Environment(timezone=timezone))
    sent = chat.say("6/3/2026", now=later(hours=10, minutes=30))
    stored = "2026-03-06T01:30:00.000000+05:30"
    assert sent == ([f"matched {stored}"] if matches else ["no match for 6/3/2026"])


def test_a_case_tests_the_words_of_the_contact_language() -> None:
    # goflow's rule: a case's arguments, and its category's name, in the contact's language.
    localization = {"spa": {"ask-case-0": {"arguments": ["rojo"]}, "ask-cat-0": {"name": ["Rojo"]}}}
    flow = (
        FlowBuilder("Colours", language="eng", localization=localization)
        .switch(
            "ask",
            send("Colour?"),
            cases=[("has_any_word", "red", "Red")],
            wait=True,
            result_name="Colour",
            to={"Red": "yes", "Other": "no"},
        )
        .node("yes", send("@results.colour.category / @results.colour.category_localized"))
        .node("no", send("other"))
    )
    spanish = Chat(flow, contact=Contact(name="Ana", language="spa"))
    spanish.start()
    assert spanish.say("red") == ["other"]
    spanish = Chat(flow, contact=Contact(name="Ana", language="spa"))
    spanish.start()
    assert spanish.say("Rojo!") == ["Red / Rojo"]
    english = Chat(flow, contact=Contact(name="Ann", language="eng"))
    english.start()
    assert english.say("red") == ["Red / Red"]


def test_a_case_that_cannot_be_decided_warns_and_does_not_match() -> None:
    chat = one_case_chat("has_number_gt", "@contact.fields.limit")
    assert chat.say("12") == ["no match for 12"]
    [warning] = [w.text for w in chat.of_type(ev.Warning) if "has_number_gt" in w.text]
    assert warning == "case has_number_gt failed: '@contact.fields.limit' is not a number"


@pytest.mark.parametrize(("written_in_glific", "matches"), [(True, True), (False, False)])
def test_has_only_text_ignores_case_in_a_flow_written_in_glific(
    written_in_glific: bool, matches: bool
) -> None:
    # Glific's editor writes "vars"; Glific compares the text lower-cased, goflow exactly.
    top = {"vars": []} if written_in_glific else {}
    flow = (
        FlowBuilder("Consent", **top)
        .switch(
            "ask",
            send("Reply Yes to agree"),
            cases=[("has_only_text", "Yes", "Yes")],
            wait=True,
            result_name="consent",
            to={"Yes": "yes", "Other": "no"},
        )
        .node("yes", send("Thank you"))
        .node("no", send("No consent"))
    )
    chat = Chat(flow)
    chat.start()
    assert chat.say(" yes ") == (["Thank you"] if matches else ["No consent"])
