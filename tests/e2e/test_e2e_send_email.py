"""``send_email`` through the runtime: the mail reaches a loopback SMTP server; without a mail
server, or when it refuses, the run warns staff and the flow goes on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sutra.config import get_settings
from sutra.engine import events as ev
from sutra.runtime.runner import Runner
from sutra.store import models as m
from sutra.testing.smtp_server import SMTPServer

from .helpers import converse, rows, send_msg, write_flow

SECRET = "smtp-pass-SECRET-0123"


def referral_flow() -> dict[str, Any]:
    return {
        "uuid": "5e1d0c2b-0000-4000-8000-000000000001",
        "name": "Referral",
        "spec_version": "14.3.0",
        "language": "eng",
        "type": "messaging",
        "nodes": [
            {
                "uuid": "5e1d0c2b-0000-4000-8000-000000000002",
                "actions": [
                    {
                        "uuid": "5e1d0c2b-0000-4000-8000-000000000003",
                        "type": "send_email",
                        "addresses": ["nurse@clinic.example", "@urns.mailto"],
                        "subject": "Referral: @contact.name",
                        "body": "Please call @contact.name (@contact.urn).",
                    },
                    send_msg("A nurse will call you."),
                ],
                "exits": [{"uuid": "5e1d0c2b-0000-4000-8000-000000000004"}],
            }
        ],
    }


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


def use_smtp(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SUTRA_SMTP_URL", url)
    get_settings.cache_clear()


async def test_the_email_reaches_the_mail_server(
    runner: Runner, smtp: SMTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_smtp(monkeypatch, smtp.url)
    await runner.repo.contact("sim:asha", name="Asha")

    chat = await converse(runner, write_flow(tmp_path, referral_flow()), urn="sim:asha")

    assert chat.messages == ["A nurse will call you."]
    assert [e for e in chat.events if isinstance(e, ev.Warning)] == []
    [mail] = smtp.received
    assert (mail.sender, mail.recipients) == ("sutra@example.org", ["nurse@clinic.example"])
    assert mail.message["Subject"] == "Referral: Asha"
    assert mail.message.get_payload().strip() == "Please call Asha (sim:asha)."


async def test_without_a_mail_server_the_run_warns_and_goes_on(
    runner: Runner, database_url: str, tmp_path: Path
) -> None:
    chat = await converse(runner, write_flow(tmp_path, referral_flow()))

    assert chat.messages == ["A nurse will call you."]
    [warning] = [e for e in chat.events if isinstance(e, ev.Warning)]
    assert warning.text == ("send_email failed: no mail server is configured (set SUTRA_SMTP_URL)")
    [log] = rows(database_url, m.WebhookLog)
    assert log["url"] == "send_email" and "SUTRA_SMTP_URL" in log["error"]


async def test_a_refusing_server_is_named_and_its_password_is_not(
    runner: Runner,
    database_url: str,
    smtp: SMTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp.refuse_recipients()
    use_smtp(monkeypatch, smtp.url)

    chat = await converse(runner, write_flow(tmp_path, referral_flow()))

    assert chat.messages == ["A nurse will call you."]
    [warning] = [e for e in chat.events if isinstance(e, ev.Warning)]
    assert warning.text.startswith("send_email failed: mail server 127.0.0.1:")
    assert smtp.received == []


async def test_logging_in_over_plain_text_is_refused(
    runner: Runner,
    database_url: str,
    smtp: SMTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_smtp(monkeypatch, smtp.url.replace("smtp://", f"smtp://sutra%40example.org:{SECRET}@"))

    chat = await converse(runner, write_flow(tmp_path, referral_flow()))

    [warning] = [e for e in chat.events if isinstance(e, ev.Warning)]
    assert "offers no TLS to log in over" in warning.text
    assert SECRET not in warning.text
    assert all(SECRET not in str(row) for row in rows(database_url, m.WebhookLog))
    assert smtp.received == []
