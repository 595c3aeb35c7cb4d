"""Build flow definitions compactly and drive the engine the way a contact would.

A node is named by a label that doubles as its uuid, so a test reads as the flow it describes::

    flow = (
        FlowBuilder("Colors")
        .node("ask", send("Favourite colour?"), to="answer")
        .switch("answer", wait=True, result_name="Favorite Color",
                cases=[("has_any_word", "red", "Red")], to={"Red": "thanks"})
        .node("thanks", send("You like @results.favorite_color"))
        .flow()
    )
    chat = Chat(flow)
    chat.start()            # -> ["Favourite colour?"]
    chat.say("Red please")  # -> ["You like Red please"]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sutra.engine import events as ev
from sutra.engine.engine import Engine, Resume, Sprint
from sutra.engine.session import Contact, Environment, Input, Run, Session, WebhookOutcome
from sutra.flows.models import Flow

NOW = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
GLIFIC_FLOWS = Path(__file__).resolve().parents[2].parent / "shared" / "glific-flows"
REAL_FLOWS = GLIFIC_FLOWS.with_name("real-flows")

_ids = itertools.count(1)


def later(**delta: float) -> datetime:
    """``NOW`` plus a time span: ``later(minutes=5)``."""
    return NOW + timedelta(**delta)


def uid(prefix: str = "uuid") -> str:
    return f"{prefix}-{next(_ids)}"


# --- actions ---------------------------------------------------------------------------------


def act(type_: str, **fields: Any) -> dict[str, Any]:
    """Any action; its uuid is made up unless given."""
    return {"type": type_, "uuid": fields.pop("uuid", None) or uid(type_), **fields}


def send(text: str, **fields: Any) -> dict[str, Any]:
    return act("send_msg", text=text, **fields)


def set_result(name: str, value: str, category: str | None = None) -> dict[str, Any]:
    return act("set_run_result", name=name, value=value, category=category)


def webhook(
    url: str = "parse_via_chat_gpt",
    body: str = "{}",
    *,
    method: str = "FUNCTION",
    result_name: str = "gpt_response",
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return act(
        "call_webhook",
        method=method,
        url=url,
        body=body,
        result_name=result_name,
        headers=dict(headers or {"Content-Type": "application/json"}),
    )


def enter(flow_uuid: str, name: str = "Child") -> dict[str, Any]:
    return act("enter_flow", flow={"uuid": flow_uuid, "name": name})


# --- flows -----------------------------------------------------------------------------------

Case = tuple[str, str | Sequence[str], str]


class FlowBuilder:
    """A flow definition written node by node; the first node added is where the flow starts."""

    def __init__(self, name: str = "Test Flow", uuid: str | None = None, **top: Any) -> None:
        self.uuid = uuid or uid("flow")
        self.name = name
        self.top = top
        self.nodes: list[dict[str, Any]] = []

    def node(self, label: str, *actions: dict[str, Any], to: str | None = None) -> FlowBuilder:
        """A node that runs ``actions`` and goes on to the node labelled ``to`` (or ends)."""
        self.nodes.append(
            {
                "uuid": label,
                "actions": list(actions),
                "exits": [{"uuid": f"{label}-exit", "destination_uuid": to}],
            }
        )
        return self

    def switch(
        self,
        label: str,
        *actions: dict[str, Any],
        cases: Iterable[Case] = (),
        operand: str = "@input.text",
        default: str | None = "Other",
        wait: bool = False,
        timeout: int | None = None,
        result_name: str | None = None,
        to: Mapping[str, str | None] | None = None,
        categories: Iterable[str] = (),
    ) -> FlowBuilder:
        """A switch router. ``cases`` are ``(type, arguments, category name)``; categories are
        made from them (plus ``categories``, the default and "No Response" for a timeout), and
        ``to`` maps a category name to the label of the node it leads to."""
        names: list[str] = []
        case_list = list(cases)
        extra = [*categories, *([default] if default else [])]
        extra += ["No Response"] if timeout else []
        for _, _, category in case_list:
            if category not in names:
                names.append(category)
        names += [name for name in extra if name not in names]
        router: dict[str, Any] = {
            "type": "switch",
            "operand": operand,
            "cases": [
                {
                    "uuid": f"{label}-case-{i}",
                    "type": kind,
                    "arguments": [args] if isinstance(args, str) else list(args),
                    "category_uuid": f"{label}-cat-{names.index(category)}",
                }
                for i, (kind, args, category) in enumerate(case_list)
            ],
        }
        self._finish(label, actions, router, names, to, result_name)
        if default:
            router["default_category_uuid"] = f"{label}-cat-{names.index(default)}"
        if wait or timeout:
            router["wait"] = {"type": "msg"}
            if timeout:
                router["wait"]["timeout"] = {
                    "seconds": timeout,
                    "category_uuid": f"{label}-cat-{names.index('No Response')}",
                }
        return self

    def random(
        self,
        label: str,
        categories: Sequence[str],
        *,
        to: Mapping[str, str | None] | None = None,
        result_name: str | None = None,
    ) -> FlowBuilder:
        self._finish(label, (), {"type": "random"}, list(categories), to, result_name)
        return self

    def _finish(
        self,
        label: str,
        actions: Iterable[dict[str, Any]],
        router: dict[str, Any],
        names: list[str],
        to: Mapping[str, str | None] | None,
        result_name: str | None,
    ) -> None:
        router["categories"] = [
            {"uuid": f"{label}-cat-{i}", "name": name, "exit_uuid": f"{label}-exit-{i}"}
            for i, name in enumerate(names)
        ]
        if result_name is not None:
            router["result_name"] = result_name
        self.nodes.append(
            {
                "uuid": label,
                "actions": list(actions),
                "router": router,
                "exits": [
                    {"uuid": f"{label}-exit-{i}", "destination_uuid": (to or {}).get(name)}
                    for i, name in enumerate(names)
                ],
            }
        )

    def definition(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "spec_version": "13.2.0",
            "language": "base",
            "type": "messaging",
            "nodes": self.nodes,
            "_ui": {
                "nodes": {node["uuid"]: {"position": {"left": 0, "top": 0}} for node in self.nodes}
            },
            "localization": {},
            **self.top,
        }

    def flow(self) -> Flow:
        return Flow.model_validate(self.definition())


def webhook_node(
    label: str,
    action: dict[str, Any],
    *,
    style: str = "glific",
    to: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The node an editor writes around a ``call_webhook``: Glific's router on the result's
    category, or the newer editor's on ``@webhook.status``."""
    result = action.get("result_name") or "result"
    if style == "glific":
        operand, case = f"@results.{result}.category", ("has_only_text", "Success", "Success")
    else:
        operand, case = "@webhook.status", ("has_number_between", ["200", "299"], "Success")
    builder = FlowBuilder().switch(
        label, action, operand=operand, cases=[case], default="Failure", to=to
    )
    return builder.nodes[0]


# --- driving the engine ----------------------------------------------------------------------


class Chat:
    """One contact talking to the engine; every call returns the texts the contact received."""

    def __init__(
        self,
        *flows: Flow | FlowBuilder | dict[str, Any],
        env: Environment | None = None,
        contact: Contact | None = None,
    ) -> None:
        loaded = [
            f.flow()
            if isinstance(f, FlowBuilder)
            else f
            if isinstance(f, Flow)
            else Flow.model_validate(f)
            for f in flows
        ]
        self.flows = {flow.uuid: flow for flow in loaded}
        self.first = loaded[0].uuid
        self.engine = Engine(self.flows, env or Environment())
        self.contact = contact or Contact(
            name="Asha Rao", phone="+919876543210", language="en", urn="whatsapp:919876543210"
        )
        self.session: Session | None = None
        self.events: list[ev.Event] = []

    def _take(self, sprint: Sprint) -> list[str]:
        self.session = sprint.session
        self.events = sprint.events
        return self.sent

    def start(self, flow_uuid: str | None = None, *, now: datetime = NOW) -> list[str]:
        return self._take(self.engine.start(flow_uuid or self.first, self.contact, now=now))

    def resume(self, resume: Resume, *, now: datetime = NOW) -> list[str]:
        assert self.session is not None, "start the flow first"
        return self._take(self.engine.resume(self.session, resume, now=now))

    def say(self, text: str, *, attachments: Sequence[str] = (), now: datetime = NOW) -> list[str]:
        return self.resume(Input(text=text, attachments=list(attachments)), now=now)

    def answer_webhook(
        self,
        status: int = 200,
        result: dict[str, Any] | None = None,
        *,
        error: str | None = None,
        now: datetime = NOW,
    ) -> list[str]:
        """Finish the pending webhook: success for 2xx without ``error``, else failure."""
        success = 200 <= status < 300 and error is None
        outcome = WebhookOutcome(
            status=status,
            success=success,
            result=result or {},
            json=result if success else None,
            error=error,
        )
        return self.resume(outcome, now=now)

    @property
    def sent(self) -> list[str]:
        return [event.text for event in self.events if isinstance(event, ev.MsgOut)]

    def of_type(self, kind: type[ev.Event]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def state(self) -> Session:
        assert self.session is not None, "start the flow first"
        return self.session

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        return self.state.runs[0].results

    @property
    def request(self) -> Any:
        wait = self.state.wait
        assert wait is not None and wait.kind == "webhook" and wait.request is not None, (
            f"session does not wait for a webhook (wait: {wait})"
        )
        return wait.request


def render(
    template: str,
    *,
    results: dict[str, dict[str, Any]] | None = None,
    contact: Contact | None = None,
    env: Environment | None = None,
    webhook: dict[str, Any] | None = None,
    now: datetime = NOW,
    flow_uuid: str = "flow-templates",
) -> str:
    """What a ``send_msg`` with ``template`` sends, in a run that already holds ``results``."""
    flow = FlowBuilder("Templates", flow_uuid).node("say", send(template)).flow()
    engine = Engine({flow.uuid: flow}, env or Environment())
    session = Session(
        contact=contact or Contact(name="Asha Rao"),
        runs=[
            Run(
                flow_uuid=flow.uuid,
                flow_name=flow.name,
                node_uuid="say",
                results=results or {},
                created_on=now,
            )
        ],
        webhook=webhook,
        created_on=now,
        modified_on=now,
    )
    sprint = engine.proceed(session, now=now)
    texts = [event.text for event in sprint.events if isinstance(event, ev.MsgOut)]
    assert len(texts) == 1, sprint.events
    return texts[0]
