"""``send_email`` (spec 14): email staff or anyone the flow names, and carry on.

The engine writes the message; the runtime sends it through the SMTP server of
``SUTRA_SMTP_URL`` (sutra/functions/email.py). Without one, or when sending fails, the run
reports a warning naming why and the flow goes on. Addresses that are not email addresses
(an empty ``@urns.mailto``) are left out; ``@@`` is goflow's escaped ``@``.

>>> from sutra.engine.testing import webhook_request
>>> request = webhook_request({"type": "send_email", "uuid": "4f452fb8-f0aa-442d-865b-a2b629c09c21",
...     "addresses": ["@contact.fields.nurse", "test@@example.com", "@urns.mailto"],
...     "subject": "Referral: @contact.name", "body": "Please call @contact.name."},
...     contact={"name": "Asha", "fields": {"nurse": "nurse@clinic.example"}})
>>> request["url"], request["body"]["to"], request["body"]["subject"]
('send_email', ['nurse@clinic.example', 'test@example.com'], 'Referral: Asha')
"""

from __future__ import annotations

import re
from typing import Literal

from sutra.engine.actions.base import Action, CallWebhook, Interrupt, action
from sutra.engine.scope import Scope
from sutra.engine.session import WebhookRequest

# Loose on purpose: the SMTP server is the judge; this leaves out blanks and plain words.
ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
MAX_ADDRESSES = 20
MAX_SUBJECT = 998  # one header line (RFC 5322)
MAX_BODY = 100_000


@action("send_email")
class SendEmail(Action):
    type: Literal["send_email"] = "send_email"
    addresses: list[str] = []
    subject: str = ""
    body: str = ""

    def execute(self, scope: Scope) -> Interrupt | None:
        rendered = [scope.template(a).strip() for a in self.addresses]
        to = list(dict.fromkeys(a for a in rendered if ADDRESS.fullmatch(a)))[:MAX_ADDRESSES]
        if not to:
            scope.skip(self, "send_email has no email address to send to")
            return None
        subject = " ".join(scope.template(self.subject).split())[:MAX_SUBJECT]
        return CallWebhook(
            WebhookRequest(
                method="FUNCTION",
                url="send_email",
                body={"to": to, "subject": subject, "body": scope.template(self.body)[:MAX_BODY]},
                action_uuid=self.uuid,
                node_uuid=scope.node.uuid,
                flow_uuid=scope.flow.uuid,
                failure_warning="send_email failed",
            )
        )
