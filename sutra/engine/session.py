"""The state the engine works on: a contact's session, its runs and what it waits for.

Everything here is plain data that serialises to JSON, so the runtime can store a session
between two messages and hand it back to the engine later, in any process.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from sutra.engine.locations import Location

SessionStatus = Literal["active", "waiting", "completed", "interrupted", "failed", "expired"]
RunStatus = Literal["active", "waiting", "completed", "interrupted", "failed", "expired"]


def new_uuid() -> str:
    return str(uuid_module.uuid4())


class Group(BaseModel):
    uuid: str
    name: str


class Contact(BaseModel):
    uuid: str = Field(default_factory=new_uuid)
    id: int | None = None
    name: str | None = None
    urn: str | None = None
    # The channel the contact last wrote from; replies go back through it.
    channel: str | None = None
    phone: str | None = None
    language: str | None = None
    fields: dict[str, str] = {}
    groups: list[Group] = []
    # Addresses beyond ``urn`` (add_contact_urn), normalised: "tel:+250781234567".
    urns: list[str] = []
    # The uuid of the contact's open ticket (open_ticket opens one only when there is none).
    ticket: str | None = None

    def all_urns(self) -> list[str]:
        """Every address of the contact, its own first (goflow's ``@contact.urns``)."""
        own = [self.urn] if self.urn else [f"tel:{self.phone}"] if self.phone else []
        return list(dict.fromkeys([*own, *self.urns]))

    def has_group(self, uuid_or_name: str) -> bool:
        wanted = uuid_or_name.strip().lower()
        return any(wanted in (g.uuid.lower(), g.name.lower()) for g in self.groups)


class Input(BaseModel):
    """A message from the contact, as the flow sees it (``@input``)."""

    uuid: str = Field(default_factory=new_uuid)
    text: str = ""
    # RapidPro's form: "image/jpeg:https://...", "geo:12.9,77.5".
    attachments: list[str] = []
    created_on: datetime | None = None


class Step(BaseModel):
    node_uuid: str
    arrived_on: datetime
    exit_uuid: str | None = None


class Run(BaseModel):
    uuid: str = Field(default_factory=new_uuid)
    flow_uuid: str
    flow_name: str
    status: RunStatus = "active"
    parent_uuid: str | None = None
    path: list[Step] = []
    # Keyed by the snake-cased result name.
    results: dict[str, dict[str, Any]] = {}
    # ``@locals``: values set_run_local and call_llm keep for this run only (goflow's spec 14).
    locals: dict[str, str] = {}
    node_uuid: str | None = None
    # Where to carry on inside the node after a pause (webhook, wait_for_time, a sub-flow).
    action_index: int = 0
    created_on: datetime
    exited_on: datetime | None = None


class WebhookRequest(BaseModel):
    """A webhook the runtime must call before the session can go on."""

    method: str
    url: str
    headers: dict[str, str] = {}
    # FUNCTION calls take the templated body as a map; HTTP calls a string.
    body: Any = None
    result_name: str | None = None
    action_uuid: str
    node_uuid: str
    flow_uuid: str
    # Set when the body could not be prepared: the runtime records it and fails the call.
    error: str | None = None
    # call_llm: the @locals name the answer goes to ("<ERROR>" when the call fails).
    output_local: str | None = None
    # An effect with no result (send_email): a failure is a run warning starting with this.
    failure_warning: str | None = None


class WebhookOutcome(BaseModel):
    """What the runtime tells the engine after performing a :class:`WebhookRequest`."""

    status: int
    success: bool
    result: dict[str, Any] = {}
    json_body: Any = Field(default=None, alias="json")
    error: str | None = None

    model_config = {"populate_by_name": True}


class Wait(BaseModel):
    kind: Literal["msg", "webhook", "time"]
    node_uuid: str
    run_uuid: str
    timeout_on: datetime | None = None
    timeout_seconds: int | None = None
    resume_on: datetime | None = None
    request: WebhookRequest | None = None


class Session(BaseModel):
    uuid: str = Field(default_factory=new_uuid)
    status: SessionStatus = "active"
    contact: Contact
    runs: list[Run] = []
    wait: Wait | None = None
    input: Input | None = None
    # ``@webhook``: the most recent call's ``{status, json}``.
    webhook: dict[str, Any] | None = None
    created_on: datetime
    modified_on: datetime
    expires_on: datetime | None = None
    # Set by the engine when the session ends in failure.
    failure: str | None = None

    @property
    def active_run(self) -> Run | None:
        for run in reversed(self.runs):
            if run.status in ("active", "waiting"):
                return run
        return None

    def run_by_uuid(self, run_uuid: str | None) -> Run | None:
        return next((run for run in self.runs if run.uuid == run_uuid), None)

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        """Results of the first run: what ``sutra simulate`` reports."""
        return self.runs[0].results if self.runs else {}


DateFormat = Literal["DD-MM-YYYY", "MM-DD-YYYY", "YYYY-MM-DD"]


class Environment(BaseModel):
    """Organisation-level settings the engine reads; nothing here is per contact."""

    timezone: str = "UTC"
    # How the organisation's contacts write dates: "3/4/2026" is 3 April day first.
    date_format: DateFormat = "DD-MM-YYYY"
    # Phone numbers written without "+" are of this country (ISO 3166 alpha-2), as goflow's
    # environment has it; None: only international numbers are phone numbers.
    default_country: str | None = None
    # goflow's number format: "1,234.5" by default; a decimal comma reads "1.234,5".
    decimal_symbol: Literal[".", ","] = "."
    # The places has_state, has_district and has_ward look in (goflow's location hierarchy).
    locations: Location | None = None
    globals: dict[str, str] = {}
    organization_id: int = 1
    # Safety net against flows that loop forever without waiting.
    max_steps_per_sprint: int = 500
