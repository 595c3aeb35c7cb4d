"""``start_session`` (spec 14): start a flow for other contacts, groups or urns.

The flow is started later, in turn with each contact's own messages, as a broadcast staff see
on the broadcasts page; this run carries on at once. A urn nobody has written from yet becomes
a contact. ``contact_query`` and ``create_contact`` are not run: such a start is reported.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "start_session", "uuid": "3d8030d6-9ddd-472d-baed-d0393f592524",
...             "flow": {"uuid": "b7cf0d83-f1c9-411c-96fd-c511a4cfa86d", "name": "Collect"},
...             "contacts": [{"uuid": "820f5923-3369-41c6-b3cd-af577c0bd4b8", "name": "Bob"}],
...             "groups": [{"uuid": "2aad21f6-30b7-42c5-bd7f-1b720c154817", "name": "Farmers"}],
...             "urns": ["whatsapp:@fields.buddy"]}, contact={"fields": {"buddy": "9198"}})
... # doctest: +NORMALIZE_WHITESPACE
[{'type': 'sessions_start_requested', 'flow': 'b7cf0d83-f1c9-411c-96fd-c511a4cfa86d',
  'flow_name': 'Collect', 'contacts': ['820f5923-3369-41c6-b3cd-af577c0bd4b8'],
  'groups': [{'uuid': '2aad21f6-30b7-42c5-bd7f-1b720c154817', 'name': 'Farmers'}],
  'urns': ['whatsapp:9198']}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, Ref, action
from sutra.engine.actions.recipients import recipients
from sutra.engine.events import SessionsStartRequested
from sutra.engine.scope import Scope


@action("start_session")
class StartSession(Action):
    type: Literal["start_session"] = "start_session"
    flow: Ref = Ref()
    contacts: list[Ref] = []
    groups: list[Ref] = []
    urns: list[str] = []
    contact_query: str = ""
    create_contact: bool = False

    def execute(self, scope: Scope) -> Interrupt | None:
        if self.contact_query.strip() or self.create_contact:
            what = "contact_query" if self.contact_query.strip() else "create_contact"
            scope.skip(self, f"start_session with {what} is not supported by Sutra")
            return None
        if not self.flow.uuid:
            scope.skip(self, "start_session names no flow")
            return None
        contacts, groups, urns = recipients(scope, self.contacts, self.groups, self.urns)
        if not (contacts or groups or urns):
            scope.skip(self, "start_session names nobody to start")
            return None
        scope.emit(
            SessionsStartRequested(
                flow=self.flow.uuid,
                flow_name=self.flow.name,
                contacts=contacts,
                groups=groups,
                urns=urns,
            )
        )
        return None
