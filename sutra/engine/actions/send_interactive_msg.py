"""``send_interactive_msg``: a WhatsApp quick-reply or list message (Glific).

``text`` holds the message as a JSON string; its strings are templated after parsing, so what a
contact typed cannot break the JSON.

>>> from sutra.engine.testing import run_action
>>> run_action({
...     "type": "send_interactive_msg", "uuid": "d5aa7f4b-7599-4ae9-9344-7fcd710e0984",
...     "id": 1, "name": "Quick Reply Text",
...     "text": '{"type": "quick_reply",'
...             ' "content": {"type": "text", "text": "Ready, @contact.name?"},'
...             ' "options": [{"type": "text", "title": "Yes"}, {"type": "text", "title": "No"}]}'
... }, contact={"name": "Asha"})[0]["quick_replies"]
['Yes', 'No']
"""

from __future__ import annotations

import json
from typing import Any, Literal

from sutra.engine.actions.base import Action, Interrupt, Text, action
from sutra.engine.events import MsgOut, Warning
from sutra.engine.scope import Scope


def _template_strings(value: Any, scope: Scope) -> Any:
    if isinstance(value, str):
        return scope.template(value)
    if isinstance(value, list):
        return [_template_strings(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: _template_strings(item, scope) for key, item in value.items()}
    return value


def _choices(message: dict[str, Any]) -> list[str]:
    if message.get("type") == "list":
        return [
            str(row.get("title", ""))
            for section in message.get("items", [])
            for row in section.get("options", [])
        ]
    return [str(option.get("title", "")) for option in message.get("options", [])]


@action("send_interactive_msg")
class SendInteractiveMsg(Action):
    type: Literal["send_interactive_msg"] = "send_interactive_msg"
    text: str
    id: Text | None = None
    name: str | None = None
    attachment_type: str | None = None
    attachment_url: str | None = None

    def execute(self, scope: Scope) -> Interrupt | None:
        try:
            message = json.loads(self.text)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            scope.emit(Warning(text=f"interactive message {self.name!r} is not valid JSON"))
            scope.emit(
                MsgOut(
                    text=scope.template(self.text),
                    flow_uuid=scope.flow.uuid,
                    node_uuid=scope.node.uuid,
                )
            )
            return None
        message = _template_strings(message, scope)
        content = message.get("content") or {}
        body = content.get("text") or message.get("body") or ""
        header = content.get("header") if content.get("type") == "text" else None
        attachments = []
        if self.attachment_type and self.attachment_url:
            attachments.append(f"{self.attachment_type}:{scope.template(self.attachment_url)}")
        elif content.get("type") in ("image", "video", "file") and content.get("url"):
            attachments.append(f"{content['type']}:{content['url']}")
        scope.emit(
            MsgOut(
                text=f"{header}\n{body}" if header and header not in body else str(body),
                quick_replies=[c for c in _choices(message) if c],
                attachments=attachments,
                interactive=message,
                flow_uuid=scope.flow.uuid,
                node_uuid=scope.node.uuid,
            )
        )
        return None
