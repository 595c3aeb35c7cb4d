"""``send_broadcast`` (spec 14): send a message to other contacts, groups or urns.

The text is written in this run's context (``@contact`` is the contact in the flow), as
goflow does. Stopped, blocked and archived recipients get nothing; a urn nobody has written from
yet becomes a contact. ``contact_query`` is not run: such a broadcast is reported.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "send_broadcast", "uuid": "c0057fd9-be0a-43ea-91df-5c18e14f2c59",
...             "groups": [{"uuid": "2aad21f6-30b7-42c5-bd7f-1b720c154817", "name": "Farmers"}],
...             "text": "@contact.name says: rain tomorrow"}, contact={"name": "Asha"})
... # doctest: +NORMALIZE_WHITESPACE
[{'type': 'broadcast_created', 'text': 'Asha says: rain tomorrow', 'attachments': [],
  'quick_replies': [], 'contacts': [],
  'groups': [{'uuid': '2aad21f6-30b7-42c5-bd7f-1b720c154817', 'name': 'Farmers'}], 'urns': []}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, Ref, action
from sutra.engine.actions.recipients import recipients
from sutra.engine.events import BroadcastCreated
from sutra.engine.scope import Scope


@action("send_broadcast")
class SendBroadcast(Action):
    type: Literal["send_broadcast"] = "send_broadcast"
    text: str = ""
    attachments: list[str] = []
    quick_replies: list[str] = []
    contacts: list[Ref] = []
    groups: list[Ref] = []
    urns: list[str] = []
    contact_query: str = ""

    def execute(self, scope: Scope) -> Interrupt | None:
        if self.contact_query.strip():
            scope.skip(self, "send_broadcast with contact_query is not supported by Sutra")
            return None
        contacts, groups, urns = recipients(scope, self.contacts, self.groups, self.urns)
        text = scope.template(scope.localized(self.uuid, "text", self.text))
        if not text.strip():
            scope.skip(self, "send_broadcast has no text")
            return None
        if not (contacts or groups or urns):
            scope.skip(self, "send_broadcast names nobody to send to")
            return None
        attachments = [scope.template(a) for a in self.attachments]
        scope.emit(
            BroadcastCreated(
                text=text,
                attachments=[a for a in attachments if a.partition(":")[2].strip()],
                quick_replies=[scope.template(q) for q in self.quick_replies if q.strip()],
                contacts=contacts,
                groups=groups,
                urns=urns,
            )
        )
        return None
