"""The action registry. Each action type is one module: a model of its JSON and ``execute``.

``execute`` changes the session through the :class:`~sutra.engine.scope.Scope` it is given and
emits events; an action that must leave the engine (a webhook call, a timed wait, a sub-flow)
returns an :class:`Interrupt` instead of doing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict

from sutra.registry import register

if TYPE_CHECKING:
    from sutra.engine.scope import Scope
    from sutra.engine.session import WebhookRequest


def _to_str(value: Any) -> Any:
    # Glific exports sometimes write uuids as numbers ("uuid": 9).
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_to_str)]


class Ref(BaseModel):
    """A reference to a group, label, flow or field: ``{"uuid": ..., "name": ...}``."""

    model_config = ConfigDict(extra="allow")

    uuid: Text = ""
    name: Text = ""


class Interrupt:
    """Returned by an action whose effect happens outside the engine."""


@dataclass(frozen=True)
class CallWebhook(Interrupt):
    request: WebhookRequest


@dataclass(frozen=True)
class WaitForTime(Interrupt):
    seconds: int


@dataclass(frozen=True)
class EnterFlow(Interrupt):
    flow_uuid: str
    flow_name: str


class Action(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    uuid: Text

    # Result names an action writes, checked when a flow is imported.
    result_fields: ClassVar[tuple[str, ...]] = ()

    def execute(self, scope: Scope) -> Interrupt | None:
        raise NotImplementedError


class UnknownAction(Action):
    """An action type Sutra does not run: reported and skipped, never a crash."""

    def execute(self, scope: Scope) -> Interrupt | None:
        scope.skip(self, f"action type {self.type!r} is not supported by Sutra")
        return None


ACTIONS: dict[str, type[Action]] = {}


def action(name: str) -> Any:
    """Class decorator registering an action model under its type name."""

    def add(cls: type[Action]) -> type[Action]:
        register(ACTIONS, "action type", name, cls)
        return cls

    return add
