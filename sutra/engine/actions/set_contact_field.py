"""``set_contact_field``: store a value on the contact (``@contact.fields.KEY``).

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "set_contact_field", "uuid": "0e0b1b36-1f5e-4cf3-94a2-2b0f0c7b0a55",
...             "field": {"key": "age_group", "name": "Age Group"}, "value": "@results.age"},
...            results={"age": {"input": "19", "value": "19", "category": "Adult"}})
[{'type': 'contact_field_changed', 'key': 'age_group', 'name': 'Age Group', 'value': '19'}]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from sutra.engine.actions.base import Action, Interrupt, Text, action
from sutra.engine.events import ContactFieldChanged
from sutra.engine.scope import Scope
from sutra.expressions import snakify


class FieldRef(BaseModel):
    key: Text = ""
    name: Text = ""


@action("set_contact_field")
class SetContactField(Action):
    type: Literal["set_contact_field"] = "set_contact_field"
    field: FieldRef
    value: str = ""

    def execute(self, scope: Scope) -> Interrupt | None:
        key = snakify(self.field.key or self.field.name)
        value = scope.template(self.value).strip()
        scope.contact.fields[key] = value
        scope.emit(ContactFieldChanged(key=key, name=self.field.name or key, value=value))
        return None
