"""``set_contact_name``: rename the contact.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "set_contact_name", "uuid": "2d3a42b2-7b1c-4a53-9d33-4f5c0b6a8e11",
...             "name": "@results.name"}, results={"name": {"input": " Ravi Kumar "}})
[{'type': 'contact_name_changed', 'name': 'Ravi Kumar'}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, action
from sutra.engine.events import ContactNameChanged
from sutra.engine.scope import Scope


@action("set_contact_name")
class SetContactName(Action):
    type: Literal["set_contact_name"] = "set_contact_name"
    name: str = ""

    def execute(self, scope: Scope) -> Interrupt | None:
        name = scope.template(self.name).strip()[:128]
        scope.contact.name = name
        scope.emit(ContactNameChanged(name=name))
        return None
