"""``send_email``: the send_email action's message, sent through ``SUTRA_SMTP_URL``.

``smtp://user:password@host:587`` sends with STARTTLS when the server offers it (and refuses to
log in over a plain connection), ``smtps://…:465`` over TLS; ``?from=`` sets the sender (default:
the user name, when it is an address). smtplib runs in a thread with a timeout, so a slow mail
server never blocks the event loop. Errors name the server, never its password.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sutra.config import get_settings
from sutra.functions.registry import FunctionCall, FunctionError, function
from sutra.runtime.working import away

TIMEOUT = 20.0


@function(
    "send_email",
    body={"to": ["nurse@clinic.example"], "subject": "", "body": ""},
    example={"sent": 1},
)
async def send_email(call: FunctionCall) -> dict[str, Any]:
    """Email ``to`` (a list of addresses) with ``subject`` and ``body``."""
    configured = get_settings().smtp_url
    if configured is None or not configured.get_secret_value().strip():
        raise FunctionError("no mail server is configured (set SUTRA_SMTP_URL)")
    server = _Server.parse(configured.get_secret_value())
    to = [str(a) for a in call.fields.get("to") or [] if str(a).strip()]
    if not to:
        raise FunctionError("send_email has no address to send to", status=400)
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = ", ".join(to)
    message["Subject"] = str(call.fields.get("subject") or "")
    message.set_content(str(call.fields.get("body") or ""))
    try:
        async with away():  # the mail server's time, not this process's CPU
            await asyncio.to_thread(server.send, message)
    except (OSError, smtplib.SMTPException) as exc:
        raise FunctionError(f"mail server {server.where} refused: {_reason(exc)}") from None
    return {"sent": len(to)}


class _Server:
    def __init__(
        self, tls: bool, host: str, port: int, user: str, password: str, sender: str
    ) -> None:
        self.tls, self.host, self.port = tls, host, port
        self.user, self.password, self.sender = user, password, sender
        self.where = f"{host}:{port}"

    @classmethod
    def parse(cls, url: str) -> _Server:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise FunctionError("SUTRA_SMTP_URL is not an smtp:// or smtps:// URL") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise FunctionError("SUTRA_SMTP_URL is not an smtp:// or smtps:// URL")
        user = unquote(parts.username or "")
        sender = (parse_qs(parts.query).get("from") or [""])[0] or user
        if "@" not in sender:
            raise FunctionError("SUTRA_SMTP_URL names no sender (add ?from=sender@example.org)")
        tls = parts.scheme == "smtps"
        return cls(
            tls,
            parts.hostname,
            port or (465 if tls else 587),
            user,
            unquote(parts.password or ""),
            sender,
        )

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
        with smtp:
            smtp.ehlo()
            if not self.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                if not self.tls and not isinstance(smtp.sock, ssl.SSLSocket):
                    raise smtplib.SMTPException("the server offers no TLS to log in over")
                smtp.login(self.user, self.password)
            smtp.send_message(message)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        return f"{exc.smtp_code} {text}".strip()
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "every recipient was refused"
    return str(exc) or type(exc).__name__
