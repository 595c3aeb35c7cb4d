"""``call_llm`` (spec 14, RapidPro/TextIt's LLM step): ask the organisation's LLM, the answer
into ``@locals.<output_local>``, ``<ERROR>`` there when the call fails.

The engine prepares the call; the runtime performs it as the ``call_llm`` function
(sutra/functions/llmstep.py) through Sutra's LLM layer, with its budgets and usage records.
The router after it reads ``@locals._llm_output`` (``has_only_text "<ERROR>"`` is Failure).

>>> from sutra.engine.testing import webhook_request
>>> request = webhook_request({"type": "call_llm", "uuid": "3cd8f2db-8429-462e-ab93-8041dd23abf1",
...     "llm": {"uuid": "1c06c884-39dd-4ce4-ad9f-9a01cbe6c000", "name": "Claude"},
...     "instructions": "Categorize: Flights or Hotels", "input": "@results.response_1",
...     "output_local": "_llm_output"}, results={"response_1": {"value": "a room in Quito"}})
>>> request["url"], request["body"]["input"], request["output_local"]
('call_llm', 'a room in Quito', '_llm_output')
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, CallWebhook, Interrupt, Ref, action
from sutra.engine.actions.set_run_local import LOCAL_NAME
from sutra.engine.scope import Scope
from sutra.engine.session import WebhookRequest

# goflow's limits on what the step sends.
MAX_TEXT = 10_000
ERROR = "<ERROR>"


@action("call_llm")
class CallLlm(Action):
    type: Literal["call_llm"] = "call_llm"
    llm: Ref = Ref()
    instructions: str = ""
    input: str = "@input.text"
    output_local: str = "_llm_output"

    def execute(self, scope: Scope) -> Interrupt | None:
        if not LOCAL_NAME.fullmatch(self.output_local):
            scope.skip(self, f"{self.output_local!r} is not a local's name (a-z, 0-9, _)")
            return None
        body = {
            "instructions": scope.template(self.instructions)[:MAX_TEXT],
            "input": scope.template(self.input)[:MAX_TEXT],
            "llm": self.llm.name,
        }
        return CallWebhook(
            WebhookRequest(
                method="FUNCTION",
                url="call_llm",
                body=body,
                action_uuid=self.uuid,
                node_uuid=scope.node.uuid,
                flow_uuid=scope.flow.uuid,
                output_local=self.output_local,
            )
        )
