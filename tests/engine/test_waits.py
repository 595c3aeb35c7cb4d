"""Waiting for the contact: timeouts, expiry, loops that never wait, interruptions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sutra.engine import events as ev
from sutra.engine.engine import TimeElapsed, Timeout
from sutra.engine.session import Environment, Input

from .flowkit import NOW, Chat, FlowBuilder, later, send


def question(timeout: int | None = 300, **top: object) -> FlowBuilder:
    return (
        FlowBuilder("Question", **top)
        .switch(
            "ask",
            send("Do you agree?"),
            cases=[("has_any_word", "yes y", "Yes")],
            timeout=timeout,
            wait=True,
            result_name="agree",
            to={"Yes": "yes", "Other": "other", "No Response": "nudge"},
        )
        .node("yes", send("Great"))
        .node("other", send("Noted: @results.agree"))
        .node("nudge", send("Are you there? (@results.agree.category)"))
    )


def test_timeout_takes_no_response_only_when_due() -> None:
    chat = Chat(question())
    assert chat.start() == ["Do you agree?"]
    wait = chat.state.wait
    assert wait is not None and wait.kind == "msg"
    assert wait.timeout_on == later(seconds=300)
    assert [w.timeout_seconds for w in chat.of_type(ev.WaitStarted)] == [300]

    assert chat.resume(Timeout(), now=later(seconds=299)) == []
    assert chat.state.status == "waiting"

    assert chat.resume(Timeout(), now=later(seconds=300)) == ["Are you there? (No Response)"]
    assert chat.results["agree"]["category"] == "No Response"
    assert chat.state.status == "completed"


def test_message_before_the_timeout_routes_normally_and_a_late_timeout_is_ignored() -> None:
    chat = Chat(question())
    chat.start()
    assert chat.say("Yes!", now=later(seconds=10)) == ["Great"]
    assert chat.results["agree"]["category"] == "Yes"
    assert chat.resume(Timeout(), now=later(seconds=400)) == []
    assert chat.state.status == "completed"
    assert chat.results["agree"]["category"] == "Yes"


def test_timeout_on_a_wait_without_one_does_nothing() -> None:
    chat = Chat(question(timeout=None))
    chat.start()
    assert chat.resume(Timeout(), now=later(days=3)) == []
    assert chat.state.status == "waiting"
    assert chat.say("maybe", now=later(days=3)) == ["Noted: maybe"]


def test_session_expires_after_expire_after_minutes() -> None:
    chat = Chat(question(timeout=None, expire_after_minutes=60))
    chat.start()
    assert chat.state.expires_on == later(minutes=60)
    waiting = chat.state

    assert chat.say("yes", now=later(minutes=59)) == ["Great"]

    chat.session = waiting
    assert chat.resume(Input(text="yes", uuid="late"), now=later(minutes=61)) == []
    assert chat.state.status == "expired"
    assert [run.status for run in chat.state.runs] == ["expired"]
    assert [e.status for e in chat.of_type(ev.RunEnded)] == ["expired"]
    # The late message was not taken as an answer: the runtime may treat it as a new message.
    assert "agree" not in chat.results
    assert chat.state.input is None or chat.state.input.uuid != "late"
    assert chat.state.wait is None


def test_default_expiry_is_seven_days() -> None:
    chat = Chat(question(timeout=None))
    chat.start()
    assert chat.state.expires_on == NOW + timedelta(minutes=10080)


def test_infinite_loop_without_a_wait_fails_with_a_reason() -> None:
    flow = (
        FlowBuilder("Spinner")
        .node("a", send("tick"), to="b")
        .switch("b", cases=[("has_text", [], "Any")], operand="@contact.name", to={"Any": "a"})
    )
    chat = Chat(flow, env=Environment(max_steps_per_sprint=40))
    chat.start()
    assert chat.state.status == "failed"
    assert chat.state.failure is not None
    assert "'Spinner' looped" in chat.state.failure
    assert "without waiting" in chat.state.failure
    assert [f.text for f in chat.of_type(ev.Failure)] == [chat.state.failure]
    assert 0 < len(chat.sent) <= 40


def test_infinite_loop_with_the_default_limit_terminates() -> None:
    flow = FlowBuilder("Spinner").node("a", to="b").node("b", to="a")
    chat = Chat(flow)
    chat.start()
    assert chat.state.status == "failed"
    assert "looped" in (chat.state.failure or "")


def test_interrupt_ends_every_run() -> None:
    chat = Chat(question())
    chat.start()
    sprint = chat.engine.interrupt(chat.state, now=later(minutes=1))
    assert sprint.session.status == "interrupted"
    assert [run.status for run in sprint.session.runs] == ["interrupted"]
    assert sprint.session.wait is None
    # The waiting session handed in is left as it was.
    assert chat.state.status == "waiting"


@pytest.mark.parametrize("resume", [Input(text="yes"), Timeout(), TimeElapsed()])
def test_a_finished_session_cannot_be_resumed(resume: Input | Timeout | TimeElapsed) -> None:
    chat = Chat(question())
    chat.start()
    chat.say("yes")
    assert chat.state.status == "completed"
    assert chat.resume(resume, now=later(minutes=10)) == []
    assert chat.state.status == "completed"
    assert [w.text for w in chat.of_type(ev.Warning)] == ["session is completed, not waiting"]
