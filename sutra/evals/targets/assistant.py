"""``assistant``: one version of an assistant (its documents, instructions and model), asked
each question the way ``filesearch-gpt`` asks it. Present only with the assistants package.

The version is fixed when the run is created (the live one unless a number is given), so
making another version live meanwhile does not change what the run measures.
"""

from __future__ import annotations

from typing import Any

from sutra.assistants.store import AssistantError, Assistants
from sutra.evals import metering
from sutra.evals.targets import (
    CallShape,
    Prepared,
    SpecError,
    TargetContext,
    TargetError,
    target_kind,
)

# The passages an answer is given, roughly, for the estimate.
PASSAGES_CHARS = 3000


async def prepare(spec: dict[str, Any], ctx: TargetContext) -> Prepared:
    key = str(spec.get("key") or spec.get("assistant_id") or "").strip()
    if not key:
        raise SpecError("an assistant target needs key (the assistant's id)")
    number = spec.get("version")
    try:
        assistant, version = await Assistants(ctx.sessions, ctx.organization_id).resolve(
            key, int(number) if number not in (None, "") else None
        )
    except (AssistantError, ValueError) as exc:
        raise SpecError(str(getattr(exc, "reason", exc))) from None
    prepared = {
        "kind": "assistant",
        "key": key,
        "name": assistant.name,
        "version": version.number,
        "model": version.model,
        "instructions": version.instructions,
    }
    return Prepared(prepared, f"assistant {assistant.name} v{version.number} ({version.model})")


def shape(spec: dict[str, Any]) -> list[CallShape]:
    prompt = (spec.get("instructions") or "") + " " * PASSAGES_CHARS
    return [CallShape(model=spec["model"], prompt=prompt)]


class AssistantTarget:
    def __init__(self, spec: dict[str, Any], ctx: TargetContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self._llm: Any = None

    async def open(self) -> None:
        provider = self.ctx.llm()
        # The assistant reports every call it makes (retrieval embeddings included) in
        # call.usage; those are recorded below, so the provider itself must not meter too.
        self._llm = provider.inner if isinstance(provider, metering.Metered) else provider

    async def answer(self, question: str) -> str:
        from sutra.assistants.answer import ask
        from sutra.functions.registry import FunctionCall, FunctionError
        from sutra.functions.services import Services

        call = FunctionCall(
            fields={"organization_id": self.ctx.organization_id},
            # defer_usage: the run stores the usage with the row, once.
            services=Services(llm=self._llm, db=self.ctx.sessions, defer_usage=True),
        )
        try:
            answer = await ask(
                call,
                Assistants(self.ctx.sessions, self.ctx.organization_id),
                self.spec["key"],
                question,
                function="eval_target",
                version=int(self.spec["version"]),
            )
        except FunctionError as exc:
            raise TargetError(exc.reason) from None
        except AssistantError as exc:
            raise TargetError(str(getattr(exc, "reason", exc))) from None
        finally:
            for usage in call.usage:
                metering.record("eval_target", usage)
        return answer.message

    async def close(self) -> None:
        return None


target_kind(
    "assistant",
    prepare=prepare,
    shape=shape,
    build=AssistantTarget,
    description="an assistant's version: key, version (default: the live one)",
)
