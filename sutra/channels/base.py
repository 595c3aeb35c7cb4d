"""What every channel adapter speaks: inbound messages and statuses in, outbound messages out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class InboundMessage:
    """One message a contact sent, parsed from a channel's webhook payload."""

    channel: str
    # Durable dedup key: the provider's message id (WhatsApp "wamid...", Gupshup payload id).
    external_id: str
    # The contact's address on this channel, e.g. "whatsapp:919812345678".
    urn: str
    text: str = ""
    # RapidPro's form: "image/jpeg:<url or media id>", "geo:<lat>,<long>".
    attachments: list[str] = field(default_factory=list)
    contact_name: str | None = None
    phone: str | None = None
    timestamp: float | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    """The provider's news about a message we sent."""

    channel: str
    external_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    error: str | None = None
    # Our own id of the message, when the provider echoes what we sent with it (WhatsApp's
    # biz_opaque_callback_data): it ties a status to a send whose answer we never recorded.
    reference: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    to: str  # the urn path: the phone number / wa_id without the scheme
    text: str
    quick_replies: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    # A Glific interactive message (quick_reply / list), when the flow sent one.
    interactive: dict[str, Any] | None = None
    # A WhatsApp template: {"name", "language": {"code"}, "components": [...]}.
    template: dict[str, Any] | None = None
    # Our id of the message, sent along where the provider echoes it in delivery statuses.
    reference: str | None = None


@dataclass(frozen=True)
class SendResult:
    external_id: str | None = None
    error: str | None = None
    # Set when the provider asked us to slow down: try again after this many seconds.
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ChannelError(ValueError):
    """A webhook payload that cannot be understood; ``path`` names the place in the body."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class Channel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> SendResult: ...
