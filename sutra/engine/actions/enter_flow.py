"""``enter_flow``: run another flow, then come back to this node's router.

The router after it reads ``@child.status`` (or ``@child.run.status``): "completed" or "expired".

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "enter_flow", "uuid": "6d27471c-940a-4ac0-a718-920adb7d1e69",
...             "flow": {"name": "Help Workflow", "uuid": "HELP_UUID"}})
[{'type': 'warning', 'text': "sub-flow 'Help Workflow' (HELP_UUID) is not loaded: skipped"}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, EnterFlow, Interrupt, Ref, action
from sutra.engine.scope import Scope


@action("enter_flow")
class EnterFlowAction(Action):
    type: Literal["enter_flow"] = "enter_flow"
    flow: Ref
    terminal: bool = False

    def execute(self, scope: Scope) -> Interrupt | None:
        return EnterFlow(flow_uuid=self.flow.uuid, flow_name=self.flow.name)
