"""Helpers that run one action in a throwaway flow: the action modules' examples use them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sutra.engine.engine import Engine
from sutra.engine.session import Contact, Environment, Input, Run, Session
from sutra.flows.models import Flow

EXAMPLE_NOW = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
_FLOW_UUID = "00000000-0000-4000-8000-00000000f10w"
_NOISE = {"flow_uuid", "node_uuid"}


def _one_action_flow(action: dict[str, Any]) -> Flow:
    return Flow.model_validate(
        {
            "uuid": _FLOW_UUID,
            "name": "Example",
            "nodes": [
                {
                    "uuid": "00000000-0000-4000-8000-000000000001",
                    "actions": [action],
                    "exits": [{"uuid": "00000000-0000-4000-8000-0000000000e1"}],
                }
            ],
        }
    )


def _session(
    flow: Flow, contact: dict[str, Any] | None, results: dict[str, Any] | None, input: str | None
) -> Session:
    run = Run(
        flow_uuid=flow.uuid,
        flow_name=flow.name,
        node_uuid=flow.nodes[0].uuid,
        results=results or {},
        created_on=EXAMPLE_NOW,
    )
    return Session(
        contact=Contact.model_validate({"name": "Ben Haggerty", **(contact or {})}),
        runs=[run],
        input=Input(text=input, uuid="...") if input is not None else None,
        created_on=EXAMPLE_NOW,
        modified_on=EXAMPLE_NOW,
    )


def run_action(
    action: dict[str, Any],
    *,
    contact: dict[str, Any] | None = None,
    results: dict[str, Any] | None = None,
    input: str | None = None,
    country: str | None = None,
) -> list[dict[str, Any]]:
    """Run ``action`` once and return the events it emitted, as compact JSON (``country``:
    the organisation's default country)."""
    flow = _one_action_flow(action)
    engine = Engine({flow.uuid: flow}, Environment(default_country=country))
    session = _session(flow, contact, results, input)
    sprint = engine.proceed(session, now=EXAMPLE_NOW)
    return [
        {key: value for key, value in event.as_json().items() if key not in _NOISE}
        for event in sprint.events
        if event.type not in ("run_ended", "wait_started")
    ]


def webhook_request(
    action: dict[str, Any],
    *,
    contact: dict[str, Any] | None = None,
    results: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The request a ``call_webhook`` action leaves for the runtime."""
    flow = _one_action_flow(action)
    engine = Engine({flow.uuid: flow})
    sprint = engine.proceed(_session(flow, contact, results, None), now=EXAMPLE_NOW)
    wait = sprint.session.wait
    assert wait is not None and wait.request is not None, "the action did not call a webhook"
    return wait.request.model_dump(exclude_none=True)


def run_locals(action: dict[str, Any], *, locals: dict[str, str] | None = None) -> dict[str, str]:
    """The run's ``@locals`` after ``action`` ran once (starting from ``locals``)."""
    flow = _one_action_flow(action)
    engine = Engine({flow.uuid: flow})
    session = _session(flow, None, None, None)
    session.runs[0].locals = dict(locals or {})
    sprint = engine.proceed(session, now=EXAMPLE_NOW)
    return sprint.session.runs[0].locals
