"""``add_contact_groups``: put the contact in groups (Glific calls them collections).

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "add_contact_groups", "uuid": "7df85e2b-5482-4a32-9bef-88d428480931",
...             "groups": [{"name": "STARTED_AB", "type": "group", "uuid": 9}]})
[{'type': 'contact_groups_changed', 'added': ['STARTED_AB'], 'removed': []}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, Ref, action
from sutra.engine.events import ContactGroupsChanged
from sutra.engine.scope import Scope
from sutra.engine.session import Group


@action("add_contact_groups")
class AddContactGroups(Action):
    type: Literal["add_contact_groups"] = "add_contact_groups"
    groups: list[Ref] = []

    def execute(self, scope: Scope) -> Interrupt | None:
        added = []
        for ref in self.groups:
            name = scope.template(ref.name) if ref.name else ref.uuid
            if not scope.contact.has_group(name) and not (
                ref.uuid and scope.contact.has_group(ref.uuid)
            ):
                scope.contact.groups.append(Group(uuid=ref.uuid or name, name=name))
                added.append(name)
        if added:
            scope.emit(ContactGroupsChanged(added=added))
        return None
