"""``gpt``: a ``parse_via_chat_gpt`` configuration (prompt, model, temperature, response
format), given directly or copied from a flow's webhook node (``flow_node``).

Each question goes through the function itself, so the messages sent are exactly the ones a
flow's node sends. Conversation memory is left out: every question is asked on its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sutra.evals.targets import (
    CallShape,
    Prepared,
    SpecError,
    TargetContext,
    TargetError,
    target_kind,
)
from sutra.llm.base import LLMProvider

FUNCTION = "parse_via_chat_gpt"
DEFAULT_MODEL = "gpt-4o"
_TEMPLATE = re.compile(r"@[a-z(]|<%=", re.IGNORECASE)


def _config(spec: dict[str, Any]) -> dict[str, Any]:
    from sutra.functions.gpt import parse_response_format, parse_temperature
    from sutra.functions.registry import FunctionError

    prompt = spec.get("prompt")
    model = str(spec.get("model") or spec.get("gpt_model") or DEFAULT_MODEL).strip()
    try:
        temperature = parse_temperature(spec.get("temperature"))
        response_format = parse_response_format(spec.get("response_format"))
    except FunctionError as exc:
        raise SpecError(exc.reason) from None
    return {
        "kind": "gpt",
        "prompt": None if prompt is None else str(prompt),
        "model": model,
        "temperature": temperature,
        "response_format": response_format,
    }


def _label(config: dict[str, Any]) -> str:
    prompt = (config.get("prompt") or "").strip().replace("\n", " ")
    shown = (prompt[:40] + "…") if len(prompt) > 40 else prompt
    return f"{FUNCTION} {config['model']}" + (f" · {shown}" if shown else "")


async def prepare(spec: dict[str, Any], ctx: TargetContext) -> Prepared:
    config = _config(spec)
    if spec.get("source"):
        config["source"] = spec["source"]
    return Prepared(config, _label(config))


async def prepare_node(spec: dict[str, Any], ctx: TargetContext) -> Prepared:
    from sutra.store import models as m

    flow_uuid = str(spec.get("flow_uuid") or "").strip()
    node_uuid = str(spec.get("node_uuid") or "").strip()
    if not flow_uuid or not node_uuid:
        raise SpecError("a flow_node target needs flow_uuid and node_uuid")
    async with ctx.sessions() as db:
        flow = await db.scalar(
            select(m.Flow)
            .where(m.Flow.organization_id == ctx.organization_id, m.Flow.uuid == flow_uuid)
            .options(selectinload(m.Flow.current_revision))
        )
    if flow is None or flow.current_revision is None:
        raise SpecError(f"no flow {flow_uuid}")
    definition = flow.current_revision.definition
    action = _gpt_action(definition, node_uuid)
    if action is None:
        raise SpecError(f"node {node_uuid} of flow {flow.name!r} has no {FUNCTION} webhook")
    try:
        body = json.loads(action.get("body") or "{}")
    except ValueError as exc:
        raise SpecError(f"the node's webhook body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise SpecError("the node's webhook body is not a JSON object")
    config = _config(body)
    # Expressions other than the question (a contact's name in the prompt) cannot be filled
    # in for a golden question: they are sent as written, and the run says so.
    templated = [
        key
        for key in ("prompt", "model", "gpt_model")
        if isinstance(body.get(key), str) and _TEMPLATE.search(body[key])
    ]
    config["source"] = {
        "flow_uuid": flow_uuid,
        "flow_name": flow.name,
        "node_uuid": node_uuid,
        "revision": flow.current_revision.revision,
        **({"sent_as_written": templated} if templated else {}),
    }
    return Prepared(config, f"{flow.name} › {_label(config)}")


def _gpt_action(definition: dict[str, Any], node_uuid: str) -> dict[str, Any] | None:
    for node in definition.get("nodes") or []:
        for action in node.get("actions") or []:
            if (
                node_uuid in (node.get("uuid"), action.get("uuid"))
                and action.get("type") == "call_webhook"
                and str(action.get("method", "")).upper() == "FUNCTION"
                and str(action.get("url", "")).strip() == FUNCTION
            ):
                return dict(action)
    return None


def shape(spec: dict[str, Any]) -> list[CallShape]:
    return [CallShape(model=spec["model"], prompt=spec.get("prompt") or "")]


class GptTarget:
    def __init__(self, spec: dict[str, Any], ctx: TargetContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self._llm: LLMProvider | None = None

    async def open(self) -> None:
        self._llm = self.ctx.llm()

    async def answer(self, question: str) -> str:
        from sutra.functions.registry import FunctionCall, FunctionError, get_function
        from sutra.functions.services import Services

        function = get_function(FUNCTION)
        assert function is not None
        fields: dict[str, Any] = {
            "question_text": question,
            "model": self.spec["model"],
            "temperature": self.spec.get("temperature") or 0,
        }
        if self.spec.get("prompt") is not None:
            fields["prompt"] = self.spec["prompt"]
        if self.spec.get("response_format"):
            fields["response_format"] = self.spec["response_format"]
        # No database: the run checks budgets and records usage itself, per row.
        call = FunctionCall(fields=fields, services=Services(llm=self._llm))
        try:
            result = await function.impl(call)
        except FunctionError as exc:
            raise TargetError(exc.reason) from None
        parsed = result.get("parsed_msg")
        return parsed if isinstance(parsed, str) else json.dumps(parsed, ensure_ascii=False)

    async def close(self) -> None:
        return None


target_kind(
    "gpt",
    prepare=prepare,
    shape=shape,
    build=GptTarget,
    description=f"a {FUNCTION} configuration: prompt, model, temperature, response_format",
)
target_kind(
    "flow_node",
    prepare=prepare_node,
    shape=shape,
    build=GptTarget,
    description=f"the {FUNCTION} node of a flow: flow_uuid, node_uuid",
)
