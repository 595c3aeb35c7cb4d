"""enter_flow: into a child flow and back, and what each side can read of the other."""

from __future__ import annotations

import pytest

from sutra.engine import events as ev

from .flowkit import Chat, FlowBuilder, enter, send, set_result

CHILD = "flow-child"


def parent(operand: str = "@child.status", child_uuid: str = CHILD) -> FlowBuilder:
    return (
        FlowBuilder("Parent", "flow-parent")
        .switch(
            "start",
            set_result("topic", "math"),
            send("Parent: starting @results.topic"),
            enter(child_uuid, "Child"),
            operand=operand,
            cases=[
                ("has_only_text", "completed", "Complete"),
                ("has_only_text", "expired", "Expired"),
            ],
            default="Expired",
            to={"Complete": "done", "Expired": "expired"},
        )
        .node(
            "done",
            send(
                "Back: @results.child.name, @child.results.name.category, "
                "@results.child.name.category, topic @results.topic"
            ),
        )
        .node("expired", send("The child flow did not complete"))
    )


def child() -> FlowBuilder:
    return (
        FlowBuilder("Child", CHILD)
        .node(
            "hello",
            send("Child: topic @results.parent.topic / @parent.results.topic / @results.topic"),
            to="ask",
        )
        .switch(
            "ask",
            cases=[("has_text", [], "Name")],
            wait=True,
            result_name="name",
            to={"Name": "bye"},
        )
        .node("bye", send("Thanks @results.name"))
    )


@pytest.mark.parametrize("operand", ["@child.status", "@child.run.status"])
def test_enter_child_flow_and_come_back(operand: str) -> None:
    chat = Chat(parent(operand), child())
    assert chat.start() == [
        "Parent: starting math",
        # The child reads the parent's results; its own results are its own.
        "Child: topic math / math / @results.topic",
    ]
    assert [e.flow_name for e in chat.of_type(ev.FlowEntered)] == ["Parent", "Child"]
    assert chat.state.status == "waiting"
    assert [run.status for run in chat.state.runs] == ["active", "waiting"]

    assert chat.say("Ravi") == ["Thanks Ravi", "Back: Ravi, Name, Name, topic math"]
    assert chat.state.status == "completed"
    assert [run.status for run in chat.state.runs] == ["completed", "completed"]
    assert [e.status for e in chat.of_type(ev.RunEnded)] == ["completed", "completed"]
    # Each run keeps its own results.
    assert set(chat.state.runs[0].results) == {"topic"}
    assert set(chat.state.runs[1].results) == {"name"}


def test_missing_child_flow_is_skipped_with_a_warning_and_the_parent_routes_on() -> None:
    chat = Chat(parent(child_uuid="HELP_UUID"))
    assert chat.start() == ["Parent: starting math", "The child flow did not complete"]
    warnings = [w.text for w in chat.of_type(ev.Warning)]
    assert any("'Child' (HELP_UUID) is not loaded" in text for text in warnings)
    assert chat.state.status == "completed"
    assert chat.state.failure is None


def test_child_that_enters_itself_fails_instead_of_recursing_forever() -> None:
    loop = FlowBuilder("Loop", "flow-loop").node("n", send("again"), enter("flow-loop", "Loop"))
    chat = Chat(loop)
    chat.start()
    assert chat.state.status == "failed"
    assert "nest too deeply" in (chat.state.failure or "")
    assert len(chat.sent) == 10
