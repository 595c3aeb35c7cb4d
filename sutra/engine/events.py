"""What the engine reports: every observable thing a step did is one event.

The runtime turns events into effects (send a message, store a result); tests and
``sutra simulate --json`` read them directly. Each event dumps to JSON with its ``type``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class MsgOut(Event):
    type: Literal["msg_out"] = "msg_out"
    text: str
    quick_replies: list[str] = []
    attachments: list[str] = []
    # A WhatsApp interactive message (quick_reply / list) as Glific writes it.
    interactive: dict[str, Any] | None = None
    flow_uuid: str | None = None
    node_uuid: str | None = None


class ContactFieldChanged(Event):
    type: Literal["contact_field_changed"] = "contact_field_changed"
    key: str
    name: str
    value: str


class ContactNameChanged(Event):
    type: Literal["contact_name_changed"] = "contact_name_changed"
    name: str


class ContactLanguageChanged(Event):
    type: Literal["contact_language_changed"] = "contact_language_changed"
    language: str


class ContactStatusChanged(Event):
    """Stopped means opted out: no broadcast or flow start reaches the contact after."""

    type: Literal["contact_status_changed"] = "contact_status_changed"
    status: Literal["active", "blocked", "stopped", "archived"]


class ContactChannelChanged(Event):
    type: Literal["contact_channel_changed"] = "contact_channel_changed"
    channel: str


class ContactURNsChanged(Event):
    """``add_contact_urn``: the contact's URNs now (goflow's event), ``added`` the new one."""

    type: Literal["contact_urns_changed"] = "contact_urns_changed"
    urns: list[str]
    added: str


class TicketOpened(Event):
    """``open_ticket``: a ticket for staff; the runtime stores it with the sprint."""

    type: Literal["ticket_opened"] = "ticket_opened"
    uuid: str
    topic: str
    body: str = ""
    assignee: str | None = None
    flow_uuid: str | None = None


class GroupRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    uuid: str = ""
    name: str = ""


class SessionsStartRequested(Event):
    """``start_session``: start a flow for other contacts. The runtime stores it as a
    broadcast in the same transaction as the sprint; the broadcast scheduler writes its starts."""

    type: Literal["sessions_start_requested"] = "sessions_start_requested"
    flow: str
    flow_name: str = ""
    contacts: list[str] = []
    # As the flow file has them: matched by uuid, else by name, to the organisation's groups.
    groups: list[GroupRef] = []
    urns: list[str] = []


class BroadcastCreated(Event):
    """``send_broadcast``: a message for other contacts, written in this run's context. The
    runtime queues one message per opted-in recipient with the sprint; the pipeline sends them."""

    type: Literal["broadcast_created"] = "broadcast_created"
    text: str
    attachments: list[str] = []
    quick_replies: list[str] = []
    contacts: list[str] = []
    groups: list[GroupRef] = []
    urns: list[str] = []


class ContactGroupsChanged(Event):
    type: Literal["contact_groups_changed"] = "contact_groups_changed"
    added: list[str] = []
    removed: list[str] = []


class InputLabelsAdded(Event):
    type: Literal["input_labels_added"] = "input_labels_added"
    labels: list[str]
    input_uuid: str | None = None


class RunResultChanged(Event):
    type: Literal["run_result_changed"] = "run_result_changed"
    name: str
    key: str
    value: Any = None
    category: str | None = None
    input: str | None = None
    flow_uuid: str


class WebhookCalled(Event):
    type: Literal["webhook_called"] = "webhook_called"
    result_name: str | None
    method: str
    url: str
    status: int
    success: bool
    error: str | None = None


class FlowEntered(Event):
    type: Literal["flow_entered"] = "flow_entered"
    flow_uuid: str
    flow_name: str


class RunEnded(Event):
    type: Literal["run_ended"] = "run_ended"
    flow_uuid: str
    status: str


class WaitStarted(Event):
    type: Literal["wait_started"] = "wait_started"
    kind: Literal["msg", "webhook", "time"]
    node_uuid: str
    timeout_seconds: int | None = None


class ActionSkipped(Event):
    """An action this engine does not run; the flow carries on past it."""

    type: Literal["action_skipped"] = "action_skipped"
    action_type: str
    action_uuid: str
    reason: str


class Error(Event):
    """An action that could not do what it says (goflow's ``error`` event); the flow goes on."""

    type: Literal["error"] = "error"
    action_type: str
    action_uuid: str
    text: str


class Warning(Event):
    type: Literal["warning"] = "warning"
    text: str


class Failure(Event):
    type: Literal["failure"] = "failure"
    text: str
