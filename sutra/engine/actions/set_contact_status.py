"""``set_contact_status`` (spec 14): make the contact active, blocked, stopped or archived.

A stopped contact has opted out: no broadcast or flow start reaches them until they are
active again. The rest of the current flow still runs (a goodbye message after "stop").

>>> from sutra.engine.testing import run_action
>>> run_action({"type": "set_contact_status", "uuid": "6d116176-48b9-4fac-bd89-e94de3efae76",
...             "status": "stopped"})
[{'type': 'contact_status_changed', 'status': 'stopped'}]
>>> run_action({"type": "set_contact_status", "uuid": "6d116176-48b9-4fac-bd89-e94de3efae76",
...             "status": "asleep"})[0]["reason"]
"'asleep' is not a contact status (active, blocked, stopped, archived)"
"""

from __future__ import annotations

from typing import Literal, cast, get_args

from sutra.engine.actions.base import Action, Interrupt, action
from sutra.engine.events import ContactStatusChanged
from sutra.engine.scope import Scope

Status = Literal["active", "blocked", "stopped", "archived"]
STATUSES: tuple[str, ...] = get_args(Status)


@action("set_contact_status")
class SetContactStatus(Action):
    type: Literal["set_contact_status"] = "set_contact_status"
    # Any text: a status this engine does not know is reported when run, not refused on import.
    status: str = ""

    def execute(self, scope: Scope) -> Interrupt | None:
        status = self.status.strip().lower()
        if status not in STATUSES:
            scope.skip(self, f"{self.status!r} is not a contact status ({', '.join(STATUSES)})")
            return None
        scope.emit(ContactStatusChanged(status=cast(Status, status)))
        return None
