"""The flow engine: pure and synchronous — (session, input) -> (session, events).

It performs no I/O. Where a flow needs the outside world (a webhook, a timed wait) the session
is left waiting with a description of what it waits for; the runtime does the work and resumes
the session with the outcome. Given the same session, input and clock it always does the same.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sutra.engine import events as ev
from sutra.engine.actions.base import CallWebhook, EnterFlow, Interrupt, WaitForTime
from sutra.engine.cases import CASE_TESTS, CaseError, CaseInput, Match
from sutra.engine.scope import Scope
from sutra.engine.session import (
    Contact,
    Environment,
    Input,
    Run,
    Session,
    Step,
    Wait,
    WebhookOutcome,
)
from sutra.expressions import render, snakify
from sutra.flows.models import Category, Flow, Node, Router

FlowSource = Mapping[str, Flow] | Callable[[str], Flow | None]
# An operand that reads ``@webhook`` itself (``@webhook.status``, ``default(webhook.status, 0)``),
# not a result that happens to be named "webhook" (``@results.webhook.category``).
_WEBHOOK_OPERAND = re.compile(r"(?<![\w.])@?webhook\b", re.IGNORECASE)


@dataclass(frozen=True)
class Timeout:
    """The contact did not answer before the wait's timeout."""


@dataclass(frozen=True)
class TimeElapsed:
    """A ``wait_for_time`` pause is over."""


Resume = Input | Timeout | TimeElapsed | WebhookOutcome


@dataclass
class Sprint:
    session: Session
    events: list[ev.Event] = field(default_factory=list)


def _copy(session: Session) -> Session:
    # The engine never changes the caller's session. A dump/validate round trip runs in
    # pydantic-core and is several times faster than a generic deep copy.
    return Session.model_validate(session.model_dump())


def _media_url(message: Input | None) -> str | None:
    """The URL of the first file a message carries (``image/jpeg:https://...``); not a location."""
    for attachment in message.attachments if message else []:
        content_type, _, url = attachment.partition(":")
        if url and not content_type.startswith("geo"):
            return url
    return None


class EngineError(Exception):
    """The caller asked for something impossible (a flow that is not loaded)."""


@dataclass
class _Pending:
    """What a resume delivers to the node the session waits at."""

    kind: Literal["msg", "timeout", "webhook", None] = None
    webhook_category: str | None = None
    node_uuid: str | None = None


class Engine:
    def __init__(self, flows: FlowSource, env: Environment | None = None) -> None:
        self._flows = flows
        self.env = env or Environment()

    def flow(self, uuid: str) -> Flow | None:
        if callable(self._flows):
            return self._flows(uuid)
        return self._flows.get(uuid)

    # --- entry points ------------------------------------------------------------------------

    def start(
        self,
        flow_uuid: str,
        contact: Contact,
        *,
        now: datetime,
        trigger: Input | None = None,
    ) -> Sprint:
        """Start ``flow_uuid`` for ``contact``. ``trigger`` is the message that started it."""
        flow = self.flow(flow_uuid)
        if flow is None:
            raise EngineError(f"flow {flow_uuid} is not loaded")
        session = Session(contact=contact, input=trigger, created_on=now, modified_on=now)
        sprint = Sprint(session)
        self._enter(sprint, flow, parent=None, now=now)
        self._go(sprint, _Pending(), now)
        return sprint

    def resume(self, session: Session, resume: Resume, *, now: datetime) -> Sprint:
        """Deliver ``resume`` to a waiting session."""
        session = _copy(session)
        sprint = Sprint(session)
        wait = session.wait
        if session.status != "waiting" or wait is None:
            sprint.events.append(ev.Warning(text=f"session is {session.status}, not waiting"))
            return sprint
        if session.expires_on is not None and now >= session.expires_on:
            self._end_all(sprint, "expired", now)
            return sprint
        pending = _Pending(node_uuid=wait.node_uuid)
        if isinstance(resume, Input):
            if wait.kind != "msg":
                sprint.events.append(ev.Warning(text=f"session waits for {wait.kind}, not a msg"))
                return sprint
            session.input = resume
            pending.kind = "msg"
        elif isinstance(resume, Timeout):
            if wait.kind != "msg" or wait.timeout_on is None or now < wait.timeout_on:
                return sprint
            pending.kind = "timeout"
        elif isinstance(resume, TimeElapsed):
            if wait.kind != "time" or (wait.resume_on is not None and now < wait.resume_on):
                return sprint
        else:
            if wait.kind != "webhook" or wait.request is None:
                sprint.events.append(
                    ev.Warning(text=f"session waits for {wait.kind}, not a webhook")
                )
                return sprint
            self._webhook_done(sprint, wait, resume, pending, now)
        session.wait = None
        session.status = "active"
        run = session.run_by_uuid(wait.run_uuid)
        if run is not None and run.status == "waiting":
            run.status = "active"
        self._go(sprint, pending, now)
        return sprint

    def proceed(self, session: Session, *, now: datetime) -> Sprint:
        """Carry on an active session from where its current run stands."""
        sprint = Sprint(_copy(session))
        self._go(sprint, _Pending(), now)
        return sprint

    def interrupt(self, session: Session, *, now: datetime) -> Sprint:
        """End a session early, e.g. because a keyword started another flow."""
        sprint = Sprint(_copy(session))
        self._end_all(sprint, "interrupted", now)
        return sprint

    # --- the loop ----------------------------------------------------------------------------

    def _go(self, sprint: Sprint, pending: _Pending, now: datetime) -> None:
        session = sprint.session
        session.modified_on = now
        steps = 0
        while True:
            run = session.active_run
            if run is None:
                session.status = "completed"
                session.wait = None
                return
            flow = self.flow(run.flow_uuid)
            node = flow.node(run.node_uuid) if flow else None
            if flow is None or node is None:
                self._fail(sprint, f"flow {run.flow_uuid} has no node {run.node_uuid}", now)
                return
            steps += 1
            if steps > self.env.max_steps_per_sprint:
                self._fail(sprint, f"flow {flow.name!r} looped {steps} times without waiting", now)
                return
            scope = Scope(session, run, flow, node, now=now, env=self.env, events=sprint.events)
            interrupted = False
            while run.action_index < len(node.actions):
                action = node.actions[run.action_index]
                run.action_index += 1
                outcome = action.execute(scope)
                if outcome is not None and self._interrupt(sprint, scope, outcome, now):
                    interrupted = True
                    break
            if interrupted:
                if session.status in ("waiting", "failed"):
                    return
                continue  # a sub-flow was entered: carry on inside it
            category = self._route(sprint, scope, pending, now)
            if session.status == "waiting" or session.status == "failed":
                return
            exit_uuid = category.exit_uuid if category else node.exits[0].uuid
            exit_ = node.exit(exit_uuid)
            if exit_ is None:
                self._fail(sprint, f"node {node.uuid} has no exit {exit_uuid}", now)
                return
            if run.path and run.path[-1].node_uuid == node.uuid:
                run.path[-1].exit_uuid = exit_.uuid
            if exit_.destination_uuid is None:
                self._end_run(sprint, run, "completed", now)
            else:
                run.node_uuid = exit_.destination_uuid
                run.action_index = 0
                run.path.append(Step(node_uuid=exit_.destination_uuid, arrived_on=now))

    def _interrupt(self, sprint: Sprint, scope: Scope, outcome: Interrupt, now: datetime) -> bool:
        session, run = sprint.session, scope.run
        if isinstance(outcome, CallWebhook):
            self._wait(
                sprint,
                run,
                scope.node,
                Wait(
                    kind="webhook",
                    node_uuid=scope.node.uuid,
                    run_uuid=run.uuid,
                    request=outcome.request,
                ),
                now,
            )
            return True
        if isinstance(outcome, WaitForTime):
            self._wait(
                sprint,
                run,
                scope.node,
                Wait(
                    kind="time",
                    node_uuid=scope.node.uuid,
                    run_uuid=run.uuid,
                    resume_on=now + timedelta(seconds=outcome.seconds),
                    timeout_seconds=outcome.seconds,
                ),
                now,
            )
            return True
        if isinstance(outcome, EnterFlow):
            child = self.flow(outcome.flow_uuid)
            if child is None:
                sprint.events.append(
                    ev.Warning(
                        text=f"sub-flow {outcome.flow_name!r} ({outcome.flow_uuid}) is not loaded: "
                        "skipped"
                    )
                )
                return False
            if sum(1 for r in session.runs if r.status in ("active", "waiting")) >= 10:
                self._fail(sprint, f"sub-flows nest too deeply entering {child.name!r}", now)
                return True
            self._enter(sprint, child, parent=run, now=now)
            return True
        return False

    def _enter(self, sprint: Sprint, flow: Flow, *, parent: Run | None, now: datetime) -> None:
        if not flow.nodes:
            sprint.events.append(ev.Warning(text=f"flow {flow.name!r} has no nodes"))
            return
        first = flow.nodes[0].uuid
        run = Run(
            flow_uuid=flow.uuid,
            flow_name=flow.name,
            parent_uuid=parent.uuid if parent else None,
            node_uuid=first,
            path=[Step(node_uuid=first, arrived_on=now)],
            created_on=now,
        )
        sprint.session.runs.append(run)
        sprint.events.append(ev.FlowEntered(flow_uuid=flow.uuid, flow_name=flow.name))

    def _wait(self, sprint: Sprint, run: Run, node: Node, wait: Wait, now: datetime) -> None:
        session = sprint.session
        session.wait = wait
        session.status = "waiting"
        run.status = "waiting"
        flow = self.flow(run.flow_uuid)
        minutes = flow.expire_after_minutes if flow else 10080
        session.expires_on = now + timedelta(minutes=minutes)
        sprint.events.append(
            ev.WaitStarted(
                kind=wait.kind, node_uuid=node.uuid, timeout_seconds=wait.timeout_seconds
            )
        )

    # --- routing -----------------------------------------------------------------------------

    def _route(
        self, sprint: Sprint, scope: Scope, pending: _Pending, now: datetime
    ) -> Category | None:
        router = scope.node.router
        if router is None:
            return None
        here = pending.node_uuid == scope.node.uuid
        if here and pending.webhook_category is not None:
            return self._webhook_route(sprint, scope, router, pending)
        if router.wait is not None:
            if here and pending.kind == "timeout" and router.wait.timeout is not None:
                pending.kind = None
                category = router.category(router.wait.timeout.category_uuid) or (
                    router.category_named("No Response")
                )
                if router.result_name and category:
                    scope.save_result(
                        router.result_name, value="", category=category.name, input=""
                    )
                return category
            if not (here and pending.kind == "msg"):
                timeout = router.wait.timeout
                self._wait(
                    sprint,
                    scope.run,
                    scope.node,
                    Wait(
                        kind="msg",
                        node_uuid=scope.node.uuid,
                        run_uuid=scope.run.uuid,
                        timeout_on=now + timedelta(seconds=timeout.seconds) if timeout else None,
                        timeout_seconds=timeout.seconds if timeout else None,
                    ),
                    now,
                )
                return None
            pending.kind = None
        if router.type == "random":
            return self._random(sprint, scope, router)
        return self._switch(sprint, scope, router, now)

    def _switch(
        self, sprint: Sprint, scope: Scope, router: Router, now: datetime
    ) -> Category | None:
        value = scope.value(router.operand or "@input.text")
        text = render(value).strip()
        match: Match | None = None
        category: Category | None = None
        for case in router.cases:
            test = CASE_TESTS.get(case.type)
            if test is None:
                sprint.events.append(ev.Warning(text=f"case test {case.type!r} is not supported"))
                continue
            # A case's arguments in the contact's language, from the flow's localization.
            written = scope.localized(case.uuid, "arguments", case.arguments)
            if not isinstance(written, list):
                written = case.arguments
            arguments = [scope.template(str(argument)) for argument in written]
            try:
                match = test(
                    CaseInput(
                        text=text,
                        value=value,
                        input=scope.session.input,
                        contact=scope.contact,
                        now=now,
                        env=self.env,
                        glific=scope.flow.from_glific,
                    ),
                    arguments,
                )
            except CaseError as error:
                # goflow's test is an error here; the case does not match, and the author
                # learns why from the run.
                sprint.events.append(ev.Warning(text=f"case {case.type} failed: {error}"))
                match = None
            if match is not None:
                category = router.category(case.category_uuid)
                break
        if category is None:
            category = router.category(router.default_category_uuid)
        if category is None:
            self._fail(sprint, f"router of node {scope.node.uuid} chose no category", now)
            return None
        if router.result_name:
            extra: dict[str, Any] = {"extra": match.extra} if match and match.extra else {}
            said = text
            url = _media_url(scope.session.input) if router.wait is not None else None
            if url is not None:
                # As Glific stores a media message's result: what the contact "said" is the
                # file's URL (so @results.image is the image), and the caption is kept beside it.
                said = url
                extra.update(url=url, caption=text)
            localized = scope.localized(category.uuid, "name", [category.name])
            if isinstance(localized, list) and localized and localized[0] != category.name:
                extra["category_localized"] = str(localized[0])
            scope.save_result(
                router.result_name,
                value=match.value if match else said,
                category=category.name,
                input=said,
                extra=extra or None,
            )
        return category

    def _random(self, sprint: Sprint, scope: Scope, router: Router) -> Category:
        # Seeded by session and step so a replay picks the same branch.
        seed = f"{sprint.session.uuid}:{scope.run.uuid}:{len(scope.run.path)}"
        category = random.Random(seed).choice(router.categories)
        if router.result_name:
            scope.save_result(router.result_name, value=category.name, category=category.name)
        return category

    def _webhook_route(
        self, sprint: Sprint, scope: Scope, router: Router, pending: _Pending
    ) -> Category | None:
        name = pending.webhook_category or "Failure"
        pending.webhook_category = None
        category = router.category_named(name) or router.category(router.default_category_uuid)
        result_name = next(
            (
                getattr(a, "result_name", None)
                for a in scope.node.actions
                if a.type == "call_webhook" and getattr(a, "result_name", None)
            ),
            None,
        )
        stored = scope.run.results.get(snakify(result_name)) if result_name else None
        if stored is not None and category is not None:
            stored["category"] = category.name
        return category

    # --- webhooks ----------------------------------------------------------------------------

    def _webhook_done(
        self,
        sprint: Sprint,
        wait: Wait,
        outcome: WebhookOutcome,
        pending: _Pending,
        now: datetime,
    ) -> None:
        session = sprint.session
        request = wait.request
        assert request is not None
        run = session.run_by_uuid(wait.run_uuid)
        if request.output_local is not None:
            # call_llm: the answer, or <ERROR>, is a local the router after it reads.
            if run is not None:
                answer = outcome.result.get("answer") if outcome.success else None
                run.locals[request.output_local] = str(answer) if answer is not None else "<ERROR>"
            sprint.events.append(
                ev.WebhookCalled(
                    result_name=None,
                    method=request.method,
                    url=request.url,
                    status=outcome.status,
                    success=outcome.success,
                    error=outcome.error,
                )
            )
            return
        if request.failure_warning is not None:
            # send_email: no result and no router; staff read why it failed, the flow goes on.
            if not outcome.success:
                text = f"{request.failure_warning}: {outcome.error or 'failed'}"
                sprint.events.append(ev.Warning(text=text))
            sprint.events.append(
                ev.WebhookCalled(
                    result_name=None,
                    method=request.method,
                    url=request.url,
                    status=outcome.status,
                    success=outcome.success,
                    error=outcome.error,
                )
            )
            return
        session.webhook = {"status": outcome.status, "json": outcome.json_body}
        category = "Success" if outcome.success else "Failure"
        flow = self.flow(request.flow_uuid)
        node = flow.node(request.node_uuid) if flow else None
        if run is not None and flow is not None and node is not None and request.result_name:
            scope = Scope(session, run, flow, node, now=now, env=self.env, events=sprint.events)
            result = dict(outcome.result)
            if not outcome.success:
                result = {"success": False, "error": outcome.error or "webhook failed", **result}
            scope.save_result(request.result_name, value=None, category=category, extra=result)
        sprint.events.append(
            ev.WebhookCalled(
                result_name=request.result_name,
                method=request.method,
                url=request.url,
                status=outcome.status,
                success=outcome.success,
                error=outcome.error,
            )
        )
        router = node.router if node else None
        # Glific routes on the category names; the newer editor evaluates @webhook.status. A
        # failed call never takes Success, whatever its status (an HTTP 200 that is not JSON).
        if router is not None and (
            not outcome.success or not _WEBHOOK_OPERAND.search(router.operand or "")
        ):
            pending.webhook_category = category

    # --- endings -----------------------------------------------------------------------------

    def _end_run(self, sprint: Sprint, run: Run, status: str, now: datetime) -> None:
        run.status = status  # type: ignore[assignment]
        run.exited_on = now
        sprint.events.append(ev.RunEnded(flow_uuid=run.flow_uuid, status=status))

    def _end_all(self, sprint: Sprint, status: str, now: datetime) -> None:
        session = sprint.session
        for run in reversed(session.runs):
            if run.status in ("active", "waiting"):
                self._end_run(sprint, run, status, now)
        session.status = status  # type: ignore[assignment]
        session.wait = None
        session.modified_on = now

    def _fail(self, sprint: Sprint, reason: str, now: datetime) -> None:
        sprint.events.append(ev.Failure(text=reason))
        self._end_all(sprint, "failed", now)
        sprint.session.failure = reason
