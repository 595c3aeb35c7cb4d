"""The expression language beyond its functions: operators and their precedence, literals,
member access, anonymous functions, and what an error does, as a flow's messages show them."""

from __future__ import annotations

import time

import pytest

from sutra.engine import events as ev
from sutra.engine.engine import Engine
from sutra.engine.session import Contact, Run, Session

from .flowkit import NOW, Chat, FlowBuilder, render, send

RESULTS = {
    "age": {"input": "23", "value": "23", "category": "Number"},
    "name": {"input": "Asha", "value": "Asha", "category": "Has Text"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # & binds loosest, then = and !=, then comparisons, + -, * /, ^, unary minus
        ('@("a" & 1 = 1)', "atrue"),
        ("@(1 + 2 & 3 = 3)", "3true"),
        ("@(2 + 3 * 4)", "14"),
        ("@((2 + 3) * 4)", "20"),
        ("@(-2 ^ 2)", "4"),
        ("@(2 ^ 3 ^ 2)", "64"),
        ("@(10 - 2 - 3)", "5"),
        ("@(1 < 2 = 2 > 1)", "true"),
        # numbers
        ("@(1 / 3)", "0.3333333333333333"),
        ("@(2 / 3)", "0.6666666666666667"),
        ("@(0.1 + 0.2)", "0.3"),
        ("@(2 ^ -1) @(2 ^ 0.5)", "0.5 1.4142135623730951"),
        ("@(results.age * 2)", "46"),
        ("@(round(2.5)) @(round(-2.5)) @(round(0.125, 2))", "3 -3 0.13"),
        # text is compared exactly; a number and its text are equal
        ('@("yes" = "YES") @("yes" = "yes") @(1.50 = "1.5")', "false true true"),
        ('@(lower(results.name.value) = "asha")', "true"),
        # text literals: Go's escapes, or the text as written when an escape is unknown
        (r'@("caf\u00e9 \"ok\"")', 'café "ok"'),
        (r'@("a\tb")', "a\tb"),
        (r'@("\d+")', r"\d+"),
        ('@("it\'s")', "it's"),
        # member access
        ('@(object("a", array(1, object("b", "deep")))["a"][1].b)', "deep"),
        ('@(array("x", "y", "z")[-1]) @(split("a b c", " ").1)', "z b"),
        ('@(object("Key", 1).key)', "1"),
        # anonymous functions see the names around them
        ("@(foreach(array(1, 2, 3), (x) => x * results.age))", "[23, 46, 69]"),
        (
            "@(foreach(array(1, 2), (n) => foreach(array(10, 20), (m) => n + m)))",
            "[[11, 21], [12, 22]]",
        ),
        ('@(((x, y) => x & y)("a", "b"))', "ab"),
        # errors: an expression that fails renders as nothing
        ("[@(1 / 0)] [@(results.missing.value)] [@(upper())] [@(nosuch(1))]", "[] [] [] []"),
        ('@(if(true, "yes", 1 / 0)) @(default(1 / 0, "fallback"))', "yes fallback"),
        ("@(is_error(1 / 0)) @(is_error(0 / 1))", "true false"),
        ('@(default(word("a b", 5), "no such word"))', "no such word"),
        # a variable that does not resolve stays as written; inside @( ) it is an error
        ("@results.nope / [@(results.nope)]", "@results.nope / []"),
    ],
)
def test_expression(template: str, expected: str) -> None:
    assert render(template, results=RESULTS) == expected


def warnings_for(template: str) -> list[str]:
    flow = FlowBuilder().node("say", send(template))
    chat = Chat(flow)
    chat.start()
    return [w.text for w in chat.of_type(ev.Warning)]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("@(upper())", "error calling upper: need 1 argument(s), got 0"),
        ('@(upper("a", "b"))', "error calling upper: need 1 argument(s), got 2"),
        ("@(max())", "error calling max: need at least 1 argument(s), got 0"),
        ('@(replace("a"))', "error calling replace: need 3 to 4 argument(s), got 1"),
        ('@(abs("foo"))', "error calling abs: 'foo' is not a number"),
        ('@(repeat("x", -1))', "error calling repeat: must be called with a positive integer"),
        ('@(foreach(array(1), "upper"))', "error calling foreach: 'upper' is not a function"),
        ("@(((x) => x)(1, 2))", "need 1 argument(s), got 2"),
        ("@(nosuch(1))", "unknown function nosuch"),
        ('@("b" > "a")', "'b' is not a number"),
        ("@(array(1)[3])", "index 3 out of range for 1 items"),
        ("@(1 +)", "expected a value"),
    ],
)
def test_a_failed_expression_tells_the_author_why(template: str, reason: str) -> None:
    warnings = warnings_for(template)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"expression failed: {template}: {reason}"), warnings


def test_an_error_in_a_function_argument_is_the_calls_error() -> None:
    assert warnings_for("@(upper(1 / 0))") == [
        "expression failed: @(upper(1 / 0)): division by zero"
    ]


@pytest.mark.parametrize(
    "template",
    [
        # each builds more than the evaluation's budget of work allows
        '@(repeat("x", 100000000))',
        '@(replace(repeat("x", 5000), "x", repeat("y", 5000)))',
        '@(foreach(split(repeat("a ", 50000)), (w) => split(repeat("b ", 50000))))',
        # functions that call each other without end
        "@(((f) => f(f))((f) => f(f)))",
    ],
)
def test_work_that_would_not_end_or_fit_is_an_error(template: str) -> None:
    started = time.monotonic()
    assert render(f"[{template}]") == "[]"
    assert time.monotonic() - started < 2


def test_rand_is_the_same_when_a_step_is_replayed() -> None:
    flow = (
        FlowBuilder("Dice", "flow-dice")
        .node("say", send("@(rand()) @(rand_between(1, 6)) @(rand())"))
        .flow()
    )
    engine = Engine({flow.uuid: flow})

    def draw(session_uuid: str) -> str:
        run = Run(
            uuid="run-1", flow_uuid=flow.uuid, flow_name=flow.name, node_uuid="say", created_on=NOW
        )
        session = Session(
            uuid=session_uuid,
            contact=Contact(name="Asha"),
            runs=[run],
            created_on=NOW,
            modified_on=NOW,
        )
        sprint = engine.proceed(session, now=NOW)
        return next(e.text for e in sprint.events if isinstance(e, ev.MsgOut))

    first = draw("session-1")
    low, die, high = first.split()
    assert 0 <= float(low) < 1 and 0 <= float(high) < 1 and low != high
    assert die in {"1", "2", "3", "4", "5", "6"}
    assert draw("session-1") == first
    assert draw("session-2") != first
