"""``add_input_labels``: label the message the contact last sent.

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "add_input_labels", "uuid": "3c1f0f54-0a0e-4c0e-8b1e-0d6f5c2a8e77",
...             "labels": [{"uuid": "4b8c", "name": "Feedback"}]}, input="Great app")
[{'type': 'input_labels_added', 'labels': ['Feedback'], 'input_uuid': '...'}]
"""

from __future__ import annotations

from typing import Literal

from sutra.engine.actions.base import Action, Interrupt, Ref, action
from sutra.engine.events import InputLabelsAdded
from sutra.engine.scope import Scope


@action("add_input_labels")
class AddInputLabels(Action):
    type: Literal["add_input_labels"] = "add_input_labels"
    labels: list[Ref] = []

    def execute(self, scope: Scope) -> Interrupt | None:
        names = [scope.template(ref.name) or ref.uuid for ref in self.labels]
        if scope.session.input is not None and names:
            scope.emit(InputLabelsAdded(labels=names, input_uuid=scope.session.input.uuid))
        return None
