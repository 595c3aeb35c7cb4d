"""What every channel adapter speaks: inbound messages and statuses in, outbound messages out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# Provider ids are short (a wamid is about 60 characters); the unique index over them is not
# unbounded (PostgreSQL refuses a btree entry over about 2.7 KB), so a longer one is kept by
# its digest: the message is stored and deduplicated all the same.
MAX_ID_CHARS = 200


def storable_id(value: str) -> str:
    """``value``, or a digest of it when it is too long to index.

    >>> storable_id("wamid.HBgL")
    'wamid.HBgL'
    >>> storable_id("x" * 5000)[:7], len(storable_id("x" * 5000))
    ('sha256:', 71)
    """
    if len(value) <= MAX_ID_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


# A sender's address (phone number, WhatsApp user id) is at most a few dozen characters; it
# is a contact's unique key, which the database cannot index past a few kilobytes.
MAX_ADDRESS_CHARS = 128


def sender_address(value: str, path: str) -> str:
    """The contact's address from ``value``, or a :class:`ChannelError` naming ``path``.

    >>> sender_address("+919812345678", "$.from")
    '919812345678'
    >>> sender_address("9" * 500, "$.from")
    Traceback (most recent call last):
    ...
    sutra.channels.base.ChannelError: $.from: longer than 128 characters
    """
    if len(value) > MAX_ADDRESS_CHARS:
        raise ChannelError(path, f"longer than {MAX_ADDRESS_CHARS} characters")
    return value.lstrip("+")


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "external_id", storable_id(self.external_id))


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "external_id", storable_id(self.external_id))


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

    def __post_init__(self) -> None:
        if self.external_id is not None:
            object.__setattr__(self, "external_id", storable_id(self.external_id))

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
