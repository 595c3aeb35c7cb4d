"""``wait_for_time``: pause the flow for ``delay`` seconds (written as a string by Glific).

>>> from sutra.engine.actions.wait_for_time import WaitForTimeAction
>>> WaitForTimeAction.model_validate({"type": "wait_for_time", "uuid": "u1", "delay": "60"}).delay
60
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sutra.engine.actions.base import Action, Interrupt, WaitForTime, action
from sutra.engine.scope import Scope


@action("wait_for_time")
class WaitForTimeAction(Action):
    type: Literal["wait_for_time"] = "wait_for_time"
    delay: int = Field(ge=0)

    def execute(self, scope: Scope) -> Interrupt | None:
        return WaitForTime(seconds=self.delay)
