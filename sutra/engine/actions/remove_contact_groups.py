"""``remove_contact_groups``: take the contact out of some groups, or of all of them.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "remove_contact_groups", "uuid": "5a570260-44f5-476a-ba7a-2727de331aa0",
...             "groups": [{"name": "STARTED_AB", "uuid": "10"}], "all_groups": False},
...            contact={"groups": [{"uuid": "10", "name": "STARTED_AB"},
...                                {"uuid": "3", "name": "Y"}]})
[{'type': 'contact_groups_changed', 'added': [], 'removed': ['STARTED_AB']}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, Ref, action
from sutra.engine.events import ContactGroupsChanged
from sutra.engine.scope import Scope


@action("remove_contact_groups")
class RemoveContactGroups(Action):
    type: Literal["remove_contact_groups"] = "remove_contact_groups"
    groups: list[Ref] = []
    all_groups: bool = False

    def execute(self, scope: Scope) -> Interrupt | None:
        wanted = {value.lower() for ref in self.groups for value in (ref.uuid, ref.name) if value}
        keep, removed = [], []
        for group in scope.contact.groups:
            if self.all_groups or group.uuid.lower() in wanted or group.name.lower() in wanted:
                removed.append(group.name)
            else:
                keep.append(group)
        scope.contact.groups = keep
        if removed:
            scope.emit(ContactGroupsChanged(removed=removed))
        return None
