"""Nothing a flow author writes or a contact types makes evaluation raise, hang or blow up.

An expression that fails renders as nothing, as goflow renders it, and the run goes on with a
warning; ``default()``, ``is_error()`` and a ``has_error`` case can see the failure.
"""

from __future__ import annotations

import time

import pytest

from sutra.engine import events as ev

from .flowkit import Chat, FlowBuilder, render, send

# What a contact may type that Python's Decimal would read as a number: for goflow it is text.
NOT_NUMBERS = ["NaN", "sNaN", "-nan", "inf", "-Infinity", "1e9999999999", "1E5", "Infinity"]


def age_chat() -> Chat:
    flow = (
        FlowBuilder("Age")
        .switch(
            "ask",
            send("How old are you?"),
            cases=[("has_text", [], "Said")],
            wait=True,
            result_name="age",
            to={"Said": "answer"},
        )
        .node(
            "answer",
            send('next year @(results.age + 1), @(if(results.age >= 18, "adult", "child")).'),
        )
    )
    chat = Chat(flow)
    chat.start()
    return chat


@pytest.mark.parametrize("typed", NOT_NUMBERS)
def test_arithmetic_and_comparison_on_typed_text_that_is_not_a_number(typed: str) -> None:
    chat = age_chat()
    assert chat.say(typed) == ["next year , ."]
    assert chat.state.status == "completed"
    warnings = [w.text for w in chat.of_type(ev.Warning)]
    assert any("@(results.age + 1)" in w and "is not a number" in w for w in warnings), warnings


def test_a_plain_number_typed_still_computes() -> None:
    chat = age_chat()
    assert chat.say(" 17 ") == ["next year 18, child."]
    assert chat.of_type(ev.Warning) == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("[@(max())]", "[]"),
        ("[@(min())]", "[]"),
        ("@(round(1, 100))", "1"),
        ("@(round(2.5678, 2)) @(round(1234, -2)) @(round(5, -1000000000))", "2.57 1200 0"),
        ("[@(round(1, 99999999999))]", "[]"),
        ("[@(10^100 * 10)] @(10^100 > 1)", "[] true"),
        ("[@(9^9^9)] @(2^10)", "[] 1024"),
        ("[@(1 / 0)] [@(rem(1, 0))] [@(div(1, 0))]", "[] [] []"),
        ("[@(0 ^ 0)] [@((-8) ^ 0.5)] [@(0 ^ -1)]", "[] [] []"),
        ("[@(1e9999999999)]", "[]"),
        ("[@(" + "9" * 5000 + ")]", "[]"),
        ("x@(" + "-" * 5001 + "1)x", "x-1x"),
        ("@(" + "!" * 3000 + "true)", "true"),
        ("[@(" + "(" * 1000 + "1" + ")" * 1000 + ")]", "[]"),
        ("[@(" + "upper(" * 1000 + "1" + ")" * 1000 + ")]", "[]"),
        ("[@(2" + "^2" * 1000 + ")]", "[]"),
        ('@(default(1 / 0, "n/a")) @(is_error(max())) @(is_error(1))', "n/a true false"),
        ('@(if(1 / 0, "yes", "no"))|@(if(true, "yes", 1 / 0))', "|yes"),
        ('[@(upper(1 / 0) & "x")]', "[]"),
    ],
)
def test_numeric_and_nesting_edges_render_as_an_error(template: str, expected: str) -> None:
    assert render(template) == expected


def test_work_is_bounded_however_a_value_is_reused() -> None:
    big = {"x": {"value": "y" * 100_000}}
    started = time.monotonic()
    # 200 copies of 100,000 characters would be 20 MB of text for one number.
    text = render("[@(len(" + " & ".join(["results.x"] * 200) + "))]", results=big)
    assert text == "[]"
    many = render("@(results.x)" * 300, results=big)
    assert time.monotonic() - started < 2
    assert len(many) == 100_000


@pytest.mark.parametrize(
    ("opening", "length"),
    [("@(", 40_000), ("<%=", 90_000), ('@("', 40_000), ("@(@contact.name ", 40_000)],
)
def test_scanning_is_linear_in_the_template_length(opening: str, length: int) -> None:
    template = opening * (length // len(opening))
    started = time.monotonic()
    text = render(template)
    assert time.monotonic() - started < 5  # backtracking/quadratic: hours
    # An expression that never closes is text to the end, as goflow's scanner reads it.
    assert text == template


def test_a_failed_expression_is_reported_once_the_run_goes_on() -> None:
    flow = FlowBuilder().node("say", send("a@(1 / 0)b"), to="next").node("next", send("done"))
    chat = Chat(flow)
    assert chat.start() == ["ab", "done"]
    assert [w.text for w in chat.of_type(ev.Warning)] == [
        "expression failed: @(1 / 0): division by zero"
    ]


# --- case tests -------------------------------------------------------------------------------


def limit_chat(kind: str, args: list[str]) -> Chat:
    """A limit the contact chose, then a number checked against it."""
    flow = (
        FlowBuilder("Limit")
        .switch(
            "limit",
            cases=[("has_text", [], "Said")],
            wait=True,
            result_name="limit",
            to={"Said": "number"},
        )
        .switch(
            "number",
            cases=[(kind, args, "Match")],
            wait=True,
            result_name="number",
            to={"Match": "yes", "Other": "no"},
        )
        .node("yes", send("matched @results.number.value"))
        .node("no", send("no match"))
    )
    chat = Chat(flow)
    chat.start()
    return chat


NUMBER_CASES = [
    ("has_number_between", ["@results.limit", "100"]),
    ("has_number_lt", ["@results.limit"]),
    ("has_number_gt", ["@results.limit"]),
    ("has_number_eq", ["@results.limit"]),
]


@pytest.mark.parametrize(("kind", "args"), NUMBER_CASES)
def test_a_number_case_against_a_limit_that_is_not_a_number(kind: str, args: list[str]) -> None:
    for typed in NOT_NUMBERS:
        chat = limit_chat(kind, args)
        chat.say(typed)
        assert chat.say("50") == ["no match"], typed
        assert chat.results["number"]["category"] == "Other"


@pytest.mark.parametrize(
    ("kind", "limit", "expected"),
    [
        ("has_number_between", "10", ["matched 50"]),
        ("has_number_lt", "60", ["matched 50"]),
        ("has_number_gt", "60", ["no match"]),
    ],
)
def test_a_number_case_against_a_limit_that_is_a_number(
    kind: str, limit: str, expected: list[str]
) -> None:
    chat = limit_chat(kind, dict(NUMBER_CASES)[kind])
    chat.say(limit)
    assert chat.say("50") == expected


def error_routing_chat() -> Chat:
    flow = (
        FlowBuilder("Next year")
        .switch(
            "ask",
            cases=[("has_text", [], "Said")],
            wait=True,
            result_name="age",
            to={"Said": "check"},
        )
        .switch(
            "check",
            operand="@(results.age + 1)",
            cases=[("has_error", [], "Error"), ("has_number", [], "Number")],
            result_name="next",
            to={"Error": "error", "Number": "number"},
        )
        .node("error", send("not a number (@results.next.value)"))
        .node("number", send("next year @results.next.value"))
    )
    chat = Chat(flow)
    chat.start()
    return chat


@pytest.mark.parametrize("typed", ["NaN", "inf", "1e9999999999"])
def test_a_router_takes_has_error_when_its_operand_fails(typed: str) -> None:
    chat = error_routing_chat()
    assert chat.say(typed) == [f"not a number ('{typed}' is not a number)"]
    assert chat.results["next"]["category"] == "Error"


def test_a_router_whose_operand_computes_skips_has_error() -> None:
    assert error_routing_chat().say("41") == ["next year 42"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("a" * 40 + "!", ["no match"]),
        ("Asha Rao " * 400, ["matched " + ("Asha Rao " * 400).strip()]),
    ],
)
def test_a_pattern_with_nested_repetition_answers_at_once(typed: str, expected: list[str]) -> None:
    chat = limit_chat("has_pattern", [r"^([a-zA-Z]+\s?)*$"])
    chat.say("anything")
    started = time.monotonic()
    # With backtracking the first takes about 2^40 steps; RE2 runs in time linear in the text.
    assert chat.say(typed) == expected
    assert time.monotonic() - started < 5  # backtracking/quadratic: hours


@pytest.mark.parametrize(
    "pattern",
    [r"(\w)\1", r"^(?=.*\d).+$", r"(?<=x)a", r"(?P<a>x)(?P=a)", r"(?>a+)", "a{2000}"],
)
def test_a_pattern_re2_cannot_compile_never_matches(pattern: str) -> None:
    chat = limit_chat("has_pattern", [pattern])
    chat.say("anything")
    assert chat.say("aa x1 xa xx" + "a" * 2000) == ["no match"]
    assert chat.state.status == "completed"
