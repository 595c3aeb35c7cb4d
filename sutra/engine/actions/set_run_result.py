"""``set_run_result``: store ``{input, value, category}`` under a result name.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "set_run_result", "uuid": "9b4c1a0e-3c3e-4d7f-8f43-3f0d0e8b8a21",
...             "name": "Favorite Color", "value": "@contact.fields.color", "category": "Known"},
...            contact={"fields": {"color": "blue"}})
[{'type': 'run_result_changed', 'name': 'Favorite Color', 'key': 'favorite_color',
  'value': 'blue', 'category': 'Known', 'input': 'blue'}]
"""

from __future__ import annotations

from typing import ClassVar, Literal

from sutra.engine.actions.base import Action, Interrupt, action
from sutra.engine.scope import Scope


@action("set_run_result")
class SetRunResult(Action):
    type: Literal["set_run_result"] = "set_run_result"
    name: str
    value: str = ""
    category: str | None = None

    result_fields: ClassVar[tuple[str, ...]] = ("name",)

    def execute(self, scope: Scope) -> Interrupt | None:
        value = scope.template(self.value)
        category = scope.template(self.category) if self.category else None
        scope.save_result(self.name, value=value, category=category, input=value)
        return None
