"""``wait_for_result``: wait up to ``delay`` seconds for a background result (Glific).

Sutra's webhook calls already complete before the flow moves on, so this is a timed pause.

>>> from sutra.engine.actions.wait_for_result import WaitForResult
>>> WaitForResult.model_validate({"type": "wait_for_result", "uuid": "u1", "delay": "600"}).delay
600
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sutra.engine.actions.base import Action, Interrupt, WaitForTime, action
from sutra.engine.scope import Scope


@action("wait_for_result")
class WaitForResult(Action):
    type: Literal["wait_for_result"] = "wait_for_result"
    delay: int = Field(ge=0)

    def execute(self, scope: Scope) -> Interrupt | None:
        return WaitForTime(seconds=self.delay)
