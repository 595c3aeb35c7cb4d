"""What an action or router sees while it runs: the session, its run, and the ``@`` context."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sutra.engine import events as ev
from sutra.engine.languages import language_keys
from sutra.engine.session import Environment, Run, Session
from sutra.expressions import evaluate_template, evaluate_value, render, snakify
from sutra.expressions.env import Env
from sutra.expressions.functions.urls import URN_SCHEMES
from sutra.expressions.values import Aliased

if TYPE_CHECKING:
    from sutra.engine.actions.base import Action
    from sutra.flows.models import Flow, Node


class Scope:
    def __init__(
        self,
        session: Session,
        run: Run,
        flow: Flow,
        node: Node,
        *,
        now: datetime,
        env: Environment,
        events: list[ev.Event],
    ) -> None:
        self.session = session
        self.run = run
        self.flow = flow
        self.node = node
        self.now = now
        self.env = env
        self.events = events
        self._context: dict[str, Any] | None = None

    @property
    def contact(self):
        return self.session.contact

    def emit(self, event: ev.Event) -> None:
        # Every change to the session is reported by an event: the cached context is stale.
        self._context = None
        self.events.append(event)

    def set_local(self, name: str, value: str | None) -> None:
        """Set (or, with None, clear) ``@locals.<name>`` of this run."""
        if value is None:
            self.run.locals.pop(name, None)
        else:
            self.run.locals[name] = value
        self._context = None

    def error(self, action: Action, text: str) -> None:
        self.emit(ev.Error(action_type=action.type, action_uuid=action.uuid, text=text))

    def skip(self, action: Action, reason: str) -> None:
        self.emit(ev.ActionSkipped(action_type=action.type, action_uuid=action.uuid, reason=reason))

    # --- templates ---------------------------------------------------------------------------

    def template(self, text: str, *, escape: Any = None) -> str:
        errors: list[str] = []
        rendered = evaluate_template(
            text, self.context(), escape=escape, errors=errors, env=self.expression_env()
        )
        self._report(errors)
        return rendered

    def value(self, text: str) -> Any:
        errors: list[str] = []
        value = evaluate_value(text, self.context(), errors=errors, env=self.expression_env())
        self._report(errors)
        return value

    def _report(self, errors: list[str]) -> None:
        # A failed expression renders as nothing (goflow); the author learns why from the run.
        for error in errors:
            self.emit(ev.Warning(text=f"expression failed: {error}"))

    def expression_env(self) -> Env:
        """The organisation's time zone and formats, the step's time, and a seed for rand()
        that a replay of this step draws again."""
        return Env(
            timezone=self.env.timezone,
            # goflow's defaults, until organisations can choose their own.
            date_format=getattr(self.env, "date_format", None) or "DD-MM-YYYY",
            time_format=getattr(self.env, "time_format", None) or "tt:mm",
            now=self.now,
            seed=f"{self.session.uuid}:{self.run.uuid}:{len(self.run.path)}",
        )

    def context(self) -> dict[str, Any]:
        """The ``@`` namespace, rebuilt after any change so templates see it at once."""
        if self._context is None:
            self._context = self._build_context()
        return self._context

    def _build_context(self) -> dict[str, Any]:
        """goflow's context members, and Glific's (``@contact.phone``, ``@global``,
        ``@calendar``, ``@flow``).

        Members only goflow has are aliases (see :class:`Aliased`): expressions see them, while
        a webhook body that sends ``@contact`` or ``@results`` whole carries what it always has.
        """
        session, run = self.session, self.run
        contact_ctx = self._contact()
        results: dict[str, Any] = {key: _result(key, r) for key, r in run.results.items()}
        parent = session.run_by_uuid(run.parent_uuid)
        child = next((r for r in reversed(session.runs) if r.parent_uuid == run.uuid), None)
        relatives: dict[str, Any] = {}
        for name, other in (("parent", parent), ("child", child)):
            if other is None:
                continue
            relatives[name] = self._related_run(other, contact_ctx)
            results.setdefault(name, other.results)
        webhook = session.webhook
        flow_ctx = {
            "__text__": self.flow.name,
            "name": self.flow.name,
            "uuid": self.flow.uuid,
            "id": self.flow.uuid,
            "revision": self.flow.revision,
        }
        # The step being run is a visit, even in a session stored without its path.
        visits = max(1, sum(1 for step in run.path if step.node_uuid == self.node.uuid))
        json_body = webhook.get("json") if webhook else None
        return {
            "contact": contact_ctx,
            "fields": contact_ctx["fields"],
            "urns": _urns_by_scheme(contact_ctx.aliases["urns"]),
            "results": results,
            "input": self._input(),
            "flow": flow_ctx,
            "run": {
                "__text__": f"{render(contact_ctx)}@{self.flow.name}",
                "uuid": run.uuid,
                "status": run.status,
                "flow": flow_ctx,
                "contact": contact_ctx,
                "results": results,
                "created_on": run.created_on,
                "exited_on": run.exited_on,
            },
            "node": {"__text__": self.node.uuid, "uuid": self.node.uuid, "visit_count": visits},
            "locals": dict(run.locals),
            "global": self.env.globals,
            "globals": self.env.globals,
            "calendar": self._calendar(),
            "webhook": {**webhook, "__text__": webhook.get("status")} if webhook else None,
            # goflow's name for the last webhook's JSON in flows migrated from RapidPro.
            "legacy_extra": json_body if isinstance(json_body, dict) else {},
            **relatives,
        }

    def _contact(self) -> Aliased:
        contact = self.session.contact
        groups = [{"uuid": g.uuid, "name": g.name, "__text__": g.name} for g in contact.groups]
        urns = contact.all_urns()
        return Aliased(
            {
                # goflow: a contact without a name renders as its address.
                "__text__": contact.name or (urns[0].partition(":")[2] if urns else ""),
                "uuid": contact.uuid,
                "id": contact.id if contact.id is not None else contact.uuid,
                "name": contact.name or "",
                "first_name": (contact.name or "").split(" ")[0],
                "phone": contact.phone or "",
                "urn": contact.urn or "",
                "language": contact.language or "",
                "fields": dict(contact.fields),
                "groups": groups,
            },
            aliases={
                "urns": urns,
                "channel": contact.channel,
                "timezone": self.env.timezone,
                # Glific's: the names of the contact's groups (``"x" in @contact.in_groups``).
                "in_groups": [g.name for g in contact.groups],
            },
        )

    def _input(self) -> dict[str, Any]:
        inputs = self.session.input
        contact = self.session.contact
        if inputs is None:
            return {"__text__": "", "text": "", "attachments": []}
        urls = [attachment.partition(":")[2] for attachment in inputs.attachments]
        return {
            # goflow renders a message as its text, then its attachments' URLs, a line each.
            "__text__": "\n".join([inputs.text, *urls]) if urls else inputs.text,
            "type": "msg",
            "uuid": inputs.uuid,
            "text": inputs.text,
            "attachments": inputs.attachments,
            "created_on": inputs.created_on,
            "channel": contact.channel,
            "urn": contact.urn,
        }

    def _related_run(self, other: Run, contact_ctx: Aliased) -> dict[str, Any]:
        flow = {"__text__": other.flow_name, "uuid": other.flow_uuid, "name": other.flow_name}
        return {
            "__text__": f"{render(contact_ctx)}@{other.flow_name}",
            "uuid": other.uuid,
            "status": other.status,
            # goflow keeps @child.run.status for flows written before spec 13.2.
            "run": {"status": other.status, "__text__": other.status},
            "results": {key: _result(key, r) for key, r in other.results.items()},
            "flow": flow,
            "contact": contact_ctx,
            "fields": contact_ctx["fields"],
            "urns": _urns_by_scheme(contact_ctx.aliases["urns"]),
        }

    def _calendar(self) -> dict[str, str]:
        today = self.now.astimezone(ZoneInfo(self.env.timezone)).date()

        def written(day: Any) -> str:
            return f"{day.day}/{day.month:02d}/{day.year}"

        return {
            "current_date": written(today),
            "yesterday": written(today - timedelta(days=1)),
            "tomorrow": written(today + timedelta(days=1)),
            "current_day": today.strftime("%A"),
            "current_month": today.strftime("%B"),
            "current_year": str(today.year),
        }

    # --- translations and results ------------------------------------------------------------

    def localized(self, action_uuid: str, key: str, default: Any) -> Any:
        """The contact's translation of an action's ``key`` (text, quick_replies, ...)."""
        keys = language_keys(self.contact.language)
        if self.flow.language.lower() in keys:
            return default
        for language in keys:
            translated = self.flow.localization.get(language, {}).get(action_uuid, {}).get(key)
            if translated:
                if key == "text" and isinstance(default, str):
                    return translated[0] if isinstance(translated, list) else translated
                return translated
        return default

    def save_result(
        self,
        name: str,
        *,
        value: Any,
        category: str | None,
        input: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        key = snakify(name) or name
        result: dict[str, Any] = {**(extra or {})}
        if input is not None:
            result["input"] = input
        if value is not None:
            result["value"] = value
        result["category"] = category
        result["inserted_at"] = self.now.isoformat()
        # goflow's result carries the name as the author wrote it and the node it came from.
        result["name"] = name
        result["node_uuid"] = self.node.uuid
        self.run.results[key] = result
        self.emit(
            ev.RunResultChanged(
                name=name,
                key=key,
                value=value,
                category=category,
                input=input,
                flow_uuid=self.flow.uuid,
            )
        )


# @urns.X is the contact's first URN of scheme X (one of goflow's), or null.


def _urns_by_scheme(urns: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = dict.fromkeys(URN_SCHEMES)
    for urn in urns:
        scheme = urn.partition(":")[0]
        if found.get(scheme) is None:
            found[scheme] = urn
    return found


def _result(key: str, stored: dict[str, Any]) -> Aliased:
    """A stored result with goflow's names for what Glific stores differently."""
    created: Any = stored.get("inserted_at")
    if isinstance(created, str):
        # Written by something else, it is shown as it is.
        with contextlib.suppress(ValueError):
            created = datetime.fromisoformat(created)
    return Aliased(
        stored,
        aliases={
            "name": stored.get("name", key),
            "created_on": created,
            "category_localized": stored.get("category_localized", stored.get("category")),
        },
    )
