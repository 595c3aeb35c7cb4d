"""``start_session`` in a flow, on the real app: the flow it names is started for the group and
the urns it lists as a broadcast (opted-out members skipped), by the broadcast scheduler."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from sutra.flows import parse_flow_file
from sutra.web.state import AppState
from tests.web.test_broadcasts_api import TEA, app, client, messages_to, ok, progress

__all__ = ["app"]

INVITER = "1a2b3c4d-0000-4000-8000-00000000000a"


def inviter_flow(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": INVITER,
        "name": "Inviter",
        "spec_version": "14.3.0",
        "language": "base",
        "type": "messaging",
        "nodes": [
            {
                "uuid": "1a2b3c4d-0000-4000-8000-00000000000b",
                "actions": [
                    action,
                    {
                        "uuid": "1a2b3c4d-0000-4000-8000-00000000000c",
                        "type": "send_msg",
                        "text": "Invitations are on their way.",
                    },
                ],
                "exits": [{"uuid": "1a2b3c4d-0000-4000-8000-00000000000d"}],
            }
        ],
    }


async def test_start_session_starts_tea_for_the_group_and_a_new_urn(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    action = {
        "uuid": "1a2b3c4d-0000-4000-8000-00000000000e",
        "type": "start_session",
        "flow": {"uuid": TEA, "name": "Tea"},
        "groups": [{"uuid": "not-the-stored-uuid", "name": "Mothers"}],
        "urns": ["sim:@fields.friend"],
    }
    await state.repo.import_flow_file(parse_flow_file(inviter_flow(action)))
    host = await state.repo.contact("sim:host", name="Host")
    host.fields["friend"] = "newcomer"

    outcome = await state.runner.start(host, INVITER)

    assert [e.text for e in outcome.events if e.type == "msg_out"] == [
        "Invitations are on their way."
    ]
    async with client(app) as api:
        listed = ok(await api.get("/api/v1/broadcasts"))
        assert listed["total"] == 2, [b["target"] for b in listed["results"]]
        by_target = {
            ("group" if "group" in b["target"] else "urns"): b["id"] for b in listed["results"]
        }
        assert all(b["created_by"] == "flow: Inviter" for b in listed["results"])
        # Four Mothers, Tomas opted out: three get Tea's question.
        await progress(api, by_target["group"], started=3, skipped=1, sent=3, pending=0)
        await progress(api, by_target["urns"], started=1, sent=1, pending=0)
    assert await messages_to(app, "asha") == 1
    assert await messages_to(app, "tomas") == 0
    assert await messages_to(app, "newcomer") == 1
    assert await messages_to(app, "host") == 1


async def test_start_session_of_an_unknown_group_starts_nothing(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    action = {
        "uuid": "1a2b3c4d-0000-4000-8000-00000000000f",
        "type": "start_session",
        "flow": {"uuid": TEA, "name": "Tea"},
        "groups": [{"uuid": "0f0f", "name": "Nobody Here"}],
    }
    await state.repo.import_flow_file(parse_flow_file(inviter_flow(action)))
    await state.runner.start(await state.repo.contact("sim:host"), INVITER)
    async with client(app) as api:
        assert ok(await api.get("/api/v1/broadcasts"))["total"] == 0
