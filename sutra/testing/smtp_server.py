"""A loopback SMTP server for tests: it speaks enough SMTP (EHLO, MAIL, RCPT, DATA) for
smtplib to send, keeps each message, and can refuse recipients. No TLS, no log-in."""

from __future__ import annotations

import email
import socketserver
import threading
from dataclasses import dataclass, field
from email.message import Message
from types import TracebackType


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    refuse: bool = False


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        state = self.server.state
        sender, recipients = "", []
        self.reply("220 loopback ESMTP")
        while line := self.rfile.readline(10_000):
            verb = line.decode(errors="replace").strip()
            upper = verb.upper()
            if upper.startswith(("EHLO", "HELO")):
                self.reply("250 loopback")
            elif upper.startswith("MAIL FROM:"):
                sender, recipients = verb[10:].strip().strip("<>"), []
                self.reply("250 OK")
            elif upper.startswith("RCPT TO:"):
                if state.refuse:
                    self.reply("550 no such mailbox")
                else:
                    recipients.append(verb[8:].strip().strip("<>"))
                    self.reply("250 OK")
            elif upper == "DATA":
                self.reply("354 go on")
                data = bytearray()
                while (chunk := self.rfile.readline(1_000_000)) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                state.received.append(
                    Received(sender, recipients, email.message_from_bytes(bytes(data)))
                )
                self.reply("250 queued")
            elif upper == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK" if upper in ("RSET", "NOOP") else "502 not here")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: _State


class SMTPServer:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"smtp://{host}:{port}?from=sutra@example.org"

    @property
    def received(self) -> list[Received]:
        return self._server.state.received

    def refuse_recipients(self, refuse: bool = True) -> None:
        self._server.state.refuse = refuse

    def __enter__(self) -> SMTPServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
