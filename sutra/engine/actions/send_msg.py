"""``send_msg``: send the contact a message, with quick replies and attachments.

>>> from sutra.engine.testing import run_action
>>> run_action({
...     "type": "send_msg", "uuid": "cf6b10c0-5e03-4ceb-b6ed-b1ac034f3f9a",
...     "text": "Hi @contact.name, pick one", "quick_replies": ["Yes", "No"],
...     "attachments": ["image:https://example.org/@contact.fields.city.jpg"]
... }, contact={"name": "Asha", "fields": {"city": "pune"}})
[{'type': 'msg_out', 'text': 'Hi Asha, pick one', 'quick_replies': ['Yes', 'No'],
  'attachments': ['image:https://example.org/pune.jpg']}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, action
from sutra.engine.events import MsgOut
from sutra.engine.scope import Scope


@action("send_msg")
class SendMsg(Action):
    type: Literal["send_msg"] = "send_msg"
    text: str = ""
    quick_replies: list[str] = []
    attachments: list[str] = []
    all_urns: bool = False

    def execute(self, scope: Scope) -> Interrupt | None:
        text = scope.localized(self.uuid, "text", self.text)
        quick_replies = scope.localized(self.uuid, "quick_replies", self.quick_replies)
        attachments = scope.localized(self.uuid, "attachments", self.attachments)
        rendered = [scope.template(a) for a in attachments]
        scope.emit(
            MsgOut(
                text=scope.template(text),
                quick_replies=[scope.template(q) for q in quick_replies if q.strip()],
                attachments=[a for a in rendered if a.partition(":")[2].strip()],
                flow_uuid=scope.flow.uuid,
                node_uuid=scope.node.uuid,
            )
        )
        return None
