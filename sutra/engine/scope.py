"""What an action or router sees while it runs: the session, its run, and the ``@`` context."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sutra.engine import events as ev
from sutra.engine.languages import language_keys
from sutra.engine.session import Environment, Run, Session
from sutra.expressions import evaluate_template, evaluate_value, snakify
from sutra.expressions.env import Env

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
        session, run = self.session, self.run
        contact = session.contact
        groups = [{"uuid": g.uuid, "name": g.name, "__text__": g.name} for g in contact.groups]
        contact_ctx = {
            "__text__": contact.name or "",
            "uuid": contact.uuid,
            "id": contact.id if contact.id is not None else contact.uuid,
            "name": contact.name or "",
            "first_name": (contact.name or "").split(" ")[0],
            "phone": contact.phone or "",
            "urn": contact.urn or "",
            "language": contact.language or "",
            "fields": dict(contact.fields),
            "groups": groups,
        }
        results: dict[str, Any] = dict(run.results)
        parent = session.run_by_uuid(run.parent_uuid)
        child = next((r for r in reversed(session.runs) if r.parent_uuid == run.uuid), None)
        relatives = {}
        for name, other in (("parent", parent), ("child", child)):
            if other is None:
                continue
            relatives[name] = {
                "__text__": other.flow_name,
                "uuid": other.uuid,
                "status": other.status,
                "run": {"status": other.status, "__text__": other.status},
                "results": other.results,
                "flow": {"uuid": other.flow_uuid, "name": other.flow_name},
            }
            results.setdefault(name, other.results)
        inputs = session.input
        input_ctx = (
            {
                "__text__": inputs.text,
                "text": inputs.text,
                "attachments": inputs.attachments,
                "uuid": inputs.uuid,
            }
            if inputs
            else {"__text__": "", "text": "", "attachments": []}
        )
        webhook = session.webhook
        return {
            "contact": contact_ctx,
            "fields": contact_ctx["fields"],
            "results": results,
            "input": input_ctx,
            "flow": {
                "__text__": self.flow.name,
                "name": self.flow.name,
                "uuid": self.flow.uuid,
                "id": self.flow.uuid,
            },
            "run": {"status": run.status, "uuid": run.uuid, "results": run.results},
            "global": self.env.globals,
            "globals": self.env.globals,
            "calendar": self._calendar(),
            "webhook": {**webhook, "__text__": webhook.get("status")} if webhook else None,
            **relatives,
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
