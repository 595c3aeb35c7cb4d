"""``flow``: a whole flow, run by the runtime as a simulated contact, one contact a question.

The flow (with the sub-flows it starts, as exported at the start of the run) runs on a
throwaway SQLite database, so evaluation contacts, sessions and messages never mix with real
ones and nothing is sent to WhatsApp. Each question is a fresh contact: the flow starts, and
the question is the contact's reply to the first wait. The answer is the result the run names
(``gpt_response`` reads its ``parsed_msg``, else its ``value``; ``gpt_response.parsed_msg.text``
reads inside it), or without one, the messages the bot sent after the question.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from sutra.evals.targets import (
    CallShape,
    Prepared,
    SpecError,
    TargetContext,
    TargetError,
    target_kind,
)
from sutra.evals.targets.gpt import DEFAULT_MODEL, FUNCTION
from sutra.runtime.environment import environment_from_settings


async def prepare(spec: dict[str, Any], ctx: TargetContext) -> Prepared:
    from sutra.flows import FlowFileError, parse_flow_file
    from sutra.store.repository import Repository
    from sutra.web import flowstore

    wanted = str(spec.get("flow_uuid") or spec.get("flow") or "").strip()
    if not wanted:
        raise SpecError("a flow target needs flow_uuid")
    repo = Repository(ctx.sessions, ctx.organization_id)
    found = await repo.find_flow(wanted)
    if found is None:
        raise SpecError(f"no active flow {wanted}")
    flow_uuid, flow_name = found
    exported = await flowstore.export_flows(repo, flow_uuid)
    try:
        parse_flow_file(exported)
    except FlowFileError as exc:
        raise SpecError(f"flow {flow_name!r} does not load: {exc}") from None
    result = str(spec.get("result") or "").strip() or None
    prepared = {
        "kind": "flow",
        "flow_uuid": flow_uuid,
        "flow_name": flow_name,
        "result": result,
        "file": exported,
    }
    shown = f"result {result}" if result else "its messages"
    return Prepared(prepared, f"flow {flow_name} · {shown}")


def shape(spec: dict[str, Any]) -> list[CallShape]:
    calls = []
    for flow in spec["file"].get("flows") or []:
        for node in (flow.get("definition") or {}).get("nodes") or []:
            for action in node.get("actions") or []:
                if action.get("type") == "call_webhook" and action.get("url") == FUNCTION:
                    try:
                        body = json.loads(action.get("body") or "{}")
                    except ValueError:
                        body = {}
                    body = body if isinstance(body, dict) else {}
                    model = str(body.get("model") or body.get("gpt_model") or DEFAULT_MODEL)
                    calls.append(CallShape(model=model, prompt=str(body.get("prompt") or "")))
    return calls


def read_result(results: dict[str, Any], path: str) -> Any:
    """A result, or a key inside it, by ``name.key.key``.

    >>> read_result({"gpt": {"parsed_msg": {"text": "hi"}, "value": ""}}, "gpt.parsed_msg.text")
    'hi'
    >>> read_result({"gpt": {"parsed_msg": "hello", "value": ""}}, "gpt")
    'hello'
    """
    name, *keys = path.split(".")
    value: Any = results.get(name)
    if value is None:
        raise TargetError(f"the flow set no result {name!r}")
    if not keys:
        if isinstance(value, dict) and value.get("success") is False:
            raise TargetError(str(value.get("error") or f"result {name!r} is a Failure"))
        if isinstance(value, dict):
            value = value["parsed_msg"] if "parsed_msg" in value else value.get("value")
        return value
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise TargetError(f"result {path!r} is not there")
        value = value[key]
    return value


_template_lock = threading.Lock()
_template_dir: tempfile.TemporaryDirectory[str] | None = None


def _migrated_template() -> Path:
    # Alembic's context is process-global: two migrations at once in one process break each
    # other. One migrated empty database per process, copied for each run, avoids both that
    # and a second of migrating per run.
    global _template_dir
    from sutra.store.db import migrate

    with _template_lock:
        if _template_dir is None:
            made = tempfile.TemporaryDirectory(prefix="sutra-eval-template-")
            migrate(f"sqlite:///{Path(made.name) / 'template.db'}")
            _template_dir = made
        return Path(_template_dir.name) / "template.db"


async def _template() -> Path:
    return await asyncio.to_thread(_migrated_template)


class FlowTarget:
    def __init__(self, spec: dict[str, Any], ctx: TargetContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self._contacts = itertools.count(1)
        self._closers: list[Any] = []
        self._runner: Any = None

    async def open(self) -> None:
        from sutra.flows import parse_flow_file
        from sutra.functions.services import Services
        from sutra.outbound import guarded_client
        from sutra.runtime.runner import Runner
        from sutra.runtime.webhooks import WebhookSettings
        from sutra.store.db import create_async_engine_for, create_session_factory
        from sutra.store.hotdb import HotDB
        from sutra.store.repository import Repository

        tmp = tempfile.TemporaryDirectory(prefix="sutra-eval-")
        self._closers.append(tmp.cleanup)
        path = Path(tmp.name) / "eval.db"
        await asyncio.to_thread(shutil.copyfile, await _template(), path)
        url = f"sqlite:///{path}"
        engine = create_async_engine_for(url)
        db = HotDB(url).start()
        http = guarded_client()
        self._closers += [engine.dispose, db.close, http.aclose]
        config = self.ctx.config
        secret = config.webhook_secret
        self._runner = runner = Runner(
            Repository(create_session_factory(engine)),
            db,
            services=Services(llm=self.ctx.llm(), http=http, db=None, defer_usage=True),
            channel="sim",
            timezone=config.timezone,
            environment=environment_from_settings(config),
            skip_time_waits=True,
            webhook_settings=WebhookSettings(
                http_timeout=config.webhook_timeout,
                max_bytes=config.webhook_max_bytes,
                function_timeout=config.function_timeout,
                signing_secret=secret.get_secret_value() if secret else None,
            ),
        )
        await runner.repo.import_flow_file(parse_flow_file(self.spec["file"]), created_by="eval")
        runner.invalidate()

    async def answer(self, question: str) -> str:
        from sutra.engine import events as ev
        from sutra.engine.session import Input

        runner = self._runner
        contact = await runner.repo.contact(f"sim:eval-{next(self._contacts)}", name="Eval")
        started = await runner.start(contact, self.spec["flow_uuid"])
        session = started.session
        if not (
            session and session.status == "waiting" and session.wait and session.wait.kind == "msg"
        ):
            raise TargetError("the flow ended without waiting for a message: nothing asked it")
        reply = await runner.receive(contact, Input(text=question))
        if reply is None:
            raise TargetError("the flow did not take the question")
        said = [e.text for e in reply.events if isinstance(e, ev.MsgOut) and e.text.strip()]
        session = reply.session or session
        path = self.spec.get("result")
        if not path:
            if not said:
                raise TargetError("the flow sent nothing back")
            return "\n".join(said)
        value = read_result(session.results if session else {}, path)
        if value is None:
            raise TargetError(f"result {path!r} is empty")
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    async def close(self) -> None:
        for close in reversed(self._closers):
            done = close()
            if asyncio.iscoroutine(done):
                await done
        self._closers.clear()


target_kind(
    "flow",
    prepare=prepare,
    shape=shape,
    build=FlowTarget,
    description="a whole flow as a simulated contact: flow_uuid, result (the answer's result)",
)
