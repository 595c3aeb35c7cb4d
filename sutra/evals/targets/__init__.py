"""What a run evaluates: a *target* answers one question at a time.

A kind of target is one module that calls :func:`target_kind` with three functions:

* ``prepare(spec, ctx)``: check what the user asked for and turn it into what the run stores
  (a flow's node is copied in, a flow is exported with its sub-flows), so that a run resumed
  after a restart, or read a year later, evaluated exactly that;
* ``shape(spec)``: the LLM calls one question costs (model and fixed prompt), for the estimate;
* ``build(spec, ctx)``: the :class:`Target` that answers.

Built in: ``gpt`` (a ``parse_via_chat_gpt`` configuration, given or taken from a flow's node:
``flow_node``), ``flow`` (a whole flow run by the runtime as a simulated contact) and, when the
assistants package is there, ``assistant`` (an assistant's version).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from sutra.config import Settings
    from sutra.llm.base import LLMProvider


class TargetError(Exception):
    """The target could not answer this question; ``reason`` is stored with the row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SpecError(ValueError):
    """What the user asked to evaluate is not something that can be run (a 422)."""


@dataclass(frozen=True)
class CallShape:
    model: str
    # The fixed part of every call's prompt (system prompt, instructions), for token estimates.
    prompt: str = ""


@dataclass(frozen=True)
class Prepared:
    spec: dict[str, Any]
    label: str


@dataclass
class TargetContext:
    sessions: async_sessionmaker[AsyncSession]
    organization_id: int
    org_settings: dict[str, Any]
    config: Settings
    # Makes the provider the target's calls go to (metered for the row being evaluated).
    llm: Callable[[], LLMProvider] = field(default=lambda: _no_llm())


def _no_llm() -> LLMProvider:
    raise RuntimeError("this context has no LLM")


class Target(Protocol):
    async def open(self) -> None: ...

    async def answer(self, question: str) -> str:
        """The answer the bot gives to ``question``; :class:`TargetError` when it gives none."""
        ...

    async def close(self) -> None: ...


Prepare = Callable[[dict[str, Any], TargetContext], Awaitable[Prepared]]
Shape = Callable[[dict[str, Any]], list[CallShape]]
Build = Callable[[dict[str, Any], TargetContext], Target]


@dataclass(frozen=True)
class TargetKind:
    name: str
    prepare: Prepare
    shape: Shape
    build: Build
    description: str = ""


_KINDS: dict[str, TargetKind] = {}
BUILTIN_MODULES = ("gpt", "flow", "assistant")


def target_kind(
    name: str, *, prepare: Prepare, shape: Shape, build: Build, description: str = ""
) -> TargetKind:
    kind = TargetKind(name, prepare, shape, build, description)
    _KINDS[name] = kind
    return kind


def kinds() -> dict[str, TargetKind]:
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(f"sutra.evals.targets.{module}")
        except ModuleNotFoundError as exc:
            # The assistant target needs sutra.assistants; without it the kind is simply absent.
            if module != "assistant" or not (exc.name or "").startswith("sutra.assistants"):
                raise
    return dict(_KINDS)


def kind_of(spec: dict[str, Any]) -> TargetKind:
    name = str(spec.get("kind") or "")
    found = kinds().get(name)
    if found is None:
        raise SpecError(f"target kind {name!r} is not one of {', '.join(sorted(kinds()))}")
    return found
