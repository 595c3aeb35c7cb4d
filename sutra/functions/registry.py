"""Webhook functions: what a `call_webhook` node with `"method": "FUNCTION"` calls by name.

A function is an async callable that receives the templated body fields (plus the fields the
platform adds: ``organization_id``, ``flow_id``, ``contact_id``, ``result_name``) and returns the
map stored as the flow result. It signals failure by raising :class:`FunctionError` with a reason
a flow author can read; any other exception is also a Failure, reported by its message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sutra.functions.services import Services
from sutra.llm.base import Usage
from sutra.registry import register


class FunctionError(Exception):
    """A function failed; ``reason`` is stored as ``@results.NAME.error`` and logged."""

    def __init__(self, reason: str, *, status: int = 500) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class FunctionCall:
    fields: dict[str, Any]
    services: Services
    # LLM usage the function incurred; the runtime stores it with the webhook log.
    usage: list[Usage] = field(default_factory=list)


FunctionImpl = Callable[[FunctionCall], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    impl: FunctionImpl
    # What the flow editor offers when a user picks this function.
    body_template: dict[str, Any] = field(default_factory=dict)
    response_example: dict[str, Any] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, FunctionSpec] = {}


def function(
    name: str,
    *,
    body: dict[str, Any] | None = None,
    example: dict[str, Any] | None = None,
) -> Callable[[FunctionImpl], FunctionImpl]:
    """Register ``impl`` as the webhook function ``name``."""

    def add(impl: FunctionImpl) -> FunctionImpl:
        spec = FunctionSpec(
            name=name,
            impl=impl,
            body_template=body or {},
            response_example=example or {},
            description=(impl.__doc__ or "").strip().split("\n\n")[0],
        )
        register(_REGISTRY, "webhook function", name, spec)
        return impl

    return add


def get_function(name: str) -> FunctionSpec | None:
    _load_builtins()
    return _REGISTRY.get(name)


def all_functions() -> list[FunctionSpec]:
    _load_builtins()
    return sorted(_REGISTRY.values(), key=lambda spec: spec.name)


def _load_builtins() -> None:
    # Imported for their registration side effect; deferred so that importing the registry
    # never drags in the LLM stack.
    from sutra.functions import builtin  # noqa: F401
