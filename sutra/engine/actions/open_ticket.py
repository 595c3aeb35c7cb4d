"""``open_ticket``: hand the contact to a person; the ticket waits for staff in Sutra's tickets.

The body (goflow's newer ``note``, or an older export's ``subject`` and ``body``) is a template;
the topic defaults to "General" and the assignee is the staff email the flow names. As goflow,
a contact with an open ticket gets no second one: the result is then Failure. A Glific flow
opens one each time, as Glific does. The result's value is the ticket's uuid.

>>> from sutra.engine.testing import run_action
>>> events = run_action({"type": "open_ticket", "uuid": "73325fda-c730-4cbc-8402-e824b62ed075",
...     "topic": {"uuid": "e8392319-7a55-45a3-9328-7f685f1f6550", "name": "Query"},
...     "body": "@input.text", "assignee": {"email": "Asha@NGO.org", "name": "Asha"},
...     "result_name": "ticket"}, input="My parcel never came")
>>> opened, result = events
>>> opened["topic"], opened["body"], opened["assignee"]
('Query', 'My parcel never came', 'asha@ngo.org')
>>> result["category"], result["value"] == opened["uuid"]
('Success', True)
>>> run_action({"type": "open_ticket", "uuid": "73325fda-c730-4cbc-8402-e824b62ed075",
...     "body": "again", "result_name": "ticket"},
...     contact={"ticket": "297611a6-b583-45c3-8587-d4e530c948f0"})[0]["category"]
'Failure'
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from sutra.engine.actions.base import Action, Interrupt, Ref, Text, action
from sutra.engine.events import TicketOpened
from sutra.engine.scope import Scope

# A ticket is for a person to read: a longer body (a template gone wrong) is cut here.
MAX_BODY = 10_000
MAX_TOPIC = 200
# Where the ticket uuids of replayed steps come from: the same step opens the same ticket.
_TICKETS = uuid_module.UUID("6a1c2f55-0c7e-4c47-9d3c-3f0d0f6b8a11")


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class Assignee(BaseModel):
    """A staff member by email; goflow's newer ``email_match`` is a template giving one."""

    model_config = ConfigDict(extra="allow")

    email: Text = ""
    name: Text = ""
    email_match: Text = ""


@action("open_ticket")
class OpenTicket(Action):
    type: Literal["open_ticket"] = "open_ticket"
    topic: Ref | None = None
    body: Text = ""
    note: Text = ""
    # Exports from before topics: a ticketer (an external service; Sutra's tickets are its
    # own) and a subject, which becomes the topic.
    ticketer: Ref | None = None
    subject: Text = ""
    assignee: Assignee | None = None
    result_name: Annotated[str | None, BeforeValidator(_blank_is_none)] = None

    result_fields: ClassVar[tuple[str, ...]] = ("result_name",)

    def execute(self, scope: Scope) -> Interrupt | None:
        contact = scope.contact
        if contact.ticket and not scope.flow.from_glific:
            self._result(scope, "", "Failure")
            return None
        subject = scope.template(self.subject).strip() if self.subject else ""
        topic = (self.topic.name.strip() if self.topic else "") or subject or "General"
        topic = topic[:MAX_TOPIC]
        body = scope.template(self.body or self.note).strip()[:MAX_BODY]
        assignee = None
        if self.assignee is not None:
            email = self.assignee.email or scope.template(self.assignee.email_match)
            assignee = email.strip().lower() or None
        run = scope.run
        ticket = str(
            uuid_module.uuid5(
                _TICKETS, f"{scope.session.uuid}:{run.uuid}:{len(run.path)}:{self.uuid}"
            )
        )
        contact.ticket = ticket
        scope.emit(
            TicketOpened(
                uuid=ticket, topic=topic, body=body, assignee=assignee, flow_uuid=scope.flow.uuid
            )
        )
        scope.set_local("_new_ticket", ticket)
        self._result(scope, ticket, "Success")
        return None

    def _result(self, scope: Scope, value: str, category: str) -> None:
        if value == "":
            scope.set_local("_new_ticket", "")
        if self.result_name:
            scope.save_result(self.result_name, value=value, category=category)
