"""Spec-14 contact actions through the runtime and the CLI: what the contact row keeps."""

from __future__ import annotations

from pathlib import Path

from sutra.runtime.runner import Runner
from sutra.store import models as m

from .helpers import REPO_ROOT, converse, rows, send_msg, simulate, write_flow

# goflow's own test flow: one node, ``set_contact_status`` to "stopped".
STOPPER = REPO_ROOT.parent / "shared" / "real-flows" / "goflow" / "stop.json"


def _one_node_flow(*actions: dict[str, object]) -> dict[str, object]:
    return {
        "uuid": "5b0b6a4e-9f51-4a4f-9d33-8f1f4c2a7c10",
        "name": "Contact actions",
        "spec_version": "14.3.0",
        "language": "eng",
        "type": "messaging",
        "nodes": [
            {
                "uuid": "2f3c9b70-2d55-4f0b-a3f4-3ac35f6f1e01",
                "actions": list(actions),
                "exits": [{"uuid": "9d1f1f0e-6a43-4b8e-9f1a-6a0f7e0c5a02"}],
            }
        ],
    }


async def test_stop_flow_opts_the_contact_out(runner: Runner, database_url: str) -> None:
    chat = await converse(runner, STOPPER, urn="sim:leaving")

    assert chat.status == "completed"
    [contact] = rows(database_url, m.Contact)
    assert (contact["urn"], contact["status"]) == ("sim:leaving", "stopped")


async def test_set_contact_channel_is_kept_and_the_next_message_goes_through_it(
    runner: Runner, database_url: str, tmp_path: Path
) -> None:
    flow = _one_node_flow(
        {
            "uuid": "0c6f0f3e-1d5b-4c0e-8c5e-3b1f1c1a0b03",
            "type": "set_contact_channel",
            "channel": {"uuid": "8e6f8a3c-4f4e-4b8e-9a0e-1f2e3d4c5b04", "name": "Gupshup"},
        },
        send_msg("Hello from @contact.channel"),
    )
    chat = await converse(runner, write_flow(tmp_path, flow), urn="sim:moving")

    assert chat.messages == ["Hello from gupshup"]
    [contact] = rows(database_url, m.Contact)
    assert contact["channel"] == "gupshup"
    [out] = [row for row in rows(database_url, m.Message) if row["direction"] == "out"]
    assert out["channel"] == "gupshup"


def test_simulate_reports_the_stop(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = simulate(STOPPER, env=cli_env, cwd=tmp_path)

    assert done.returncode == 0, done.explain()
    assert done.of_type("contact_status_changed") == [
        {"type": "contact_status_changed", "status": "stopped"}
    ]
    assert done.of_type("action_skipped") == []


# goflow's "Phone Numbers" (add_contact_urn) and Glific's "Ticketing_Help" (open_ticket).
PHONES = REPO_ROOT.parent / "shared" / "real-flows" / "goflow" / "phone_number.json"
TICKETING = REPO_ROOT.parent / "shared" / "real-flows" / "glific" / "ticketing_help.json"


def test_simulate_adds_the_backup_phone_in_the_default_country(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    done = simulate(
        PHONES,
        "no idea",
        "202 555 0199",
        env={**cli_env, "SUTRA_DEFAULT_COUNTRY": "US"},
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.explain()
    assert done.messages[1] == "Sorry that doesn't look like a phone number. Try again."
    [changed] = done.of_type("contact_urns_changed")
    assert changed["added"] == "tel:+12025550199"
    assert changed["urns"][-1] == "tel:+12025550199"
    assert done.of_type("error") == []
    assert done.status == "completed"


def test_simulate_opens_a_ticket_and_routes_on_its_result(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    done = simulate(TICKETING, "The clinic was closed today", env=cli_env, cwd=tmp_path)

    assert done.returncode == 0, done.explain()
    [opened] = done.of_type("ticket_opened")
    assert (opened["topic"], opened["body"]) == ("Query", "The clinic was closed today")
    assert done.results["result"]["value"] == opened["uuid"]
    assert done.results["result"]["category"] == "Success"
    assert done.messages[-1].startswith("We have received your query.")
