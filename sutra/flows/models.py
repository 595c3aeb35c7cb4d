"""Typed models of a flow definition (flow spec 13.x and 14.x).

The models validate structure and types; :mod:`sutra.flows.validate` checks what refers to
what. ``_ui`` and any other key a model does not name are kept, so a flow exports as it came.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from sutra.engine import actions as _actions  # noqa: F401 - registers every action type
from sutra.engine.actions.base import ACTIONS, Action, Text, UnknownAction


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Exit(_Model):
    uuid: Text
    destination_uuid: Text | None = None


class Case(_Model):
    uuid: Text
    type: str
    arguments: list[Text] = []
    category_uuid: Text


class Category(_Model):
    uuid: Text
    name: str
    exit_uuid: Text


class Timeout(_Model):
    seconds: int = Field(ge=1)
    category_uuid: Text


class Wait(_Model):
    type: str = "msg"
    timeout: Timeout | None = None


class Router(_Model):
    type: Literal["switch", "random"]
    operand: str | None = None
    cases: list[Case] = []
    categories: list[Category] = Field(min_length=1)
    default_category_uuid: Text | None = None
    result_name: str | None = None
    wait: Wait | None = None

    def category(self, uuid: str | None) -> Category | None:
        return next((c for c in self.categories if c.uuid == uuid), None)

    def category_named(self, name: str) -> Category | None:
        wanted = name.lower()
        return next((c for c in self.categories if c.name.lower() == wanted), None)


def _action_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in ACTIONS else "__unknown__"


def _action_union() -> Any:
    members = tuple(Annotated[cls, Tag(name)] for name, cls in ACTIONS.items())
    members += (Annotated[UnknownAction, Tag("__unknown__")],)
    # Built at run time from the registry, so adding an action touches only its module.
    return Annotated[Union[members], Discriminator(_action_tag)]  # noqa: UP007


AnyAction = _action_union()


class Node(_Model):
    uuid: Text
    actions: list[AnyAction] = []  # type: ignore[valid-type]
    router: Router | None = None
    exits: list[Exit] = Field(min_length=1)

    def exit(self, uuid: str) -> Exit | None:
        return next((e for e in self.exits if e.uuid == uuid), None)


class Flow(_Model):
    uuid: Text
    name: str
    spec_version: str = "13.1.0"
    language: str = "base"
    type: str = "messaging"
    nodes: list[Node] = []
    localization: dict[str, dict[str, dict[str, Any]]] = {}
    expire_after_minutes: int = 10080
    revision: int | None = None
    # Glific's editor writes the flow's variables here; RapidPro's and TextIt's do not.
    vars: list[Any] | None = None

    @property
    def from_glific(self) -> bool:
        """Written in Glific: where Glific's case tests differ from goflow's, Glific's apply.

        >>> Flow(uuid="f", name="A", vars=[]).from_glific, Flow(uuid="f", name="A").from_glific
        (True, False)
        """
        return self.vars is not None

    @field_validator("localization", mode="before")
    @classmethod
    def _localization(cls, value: Any) -> Any:
        return value or {}

    @cached_property
    def nodes_by_uuid(self) -> dict[str, Node]:
        return {node.uuid: node for node in self.nodes}

    def node(self, uuid: str | None) -> Node | None:
        return self.nodes_by_uuid.get(uuid or "")

    def actions_of_type(self, *types: str) -> list[Action]:
        return [a for node in self.nodes for a in node.actions if a.type in types]
