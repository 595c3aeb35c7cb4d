"""A flow started for 100,000 contacts at once: how long the starts take to create, the pace
the messages then go out at, and how long a contact who writes in meanwhile waits.

The contacts and their group are written straight into the database first (as an import
would); then one ``POST /api/v1/flows/{uuid}/start {"group": …}`` starts the flow for all of
them, and the Graph API stand-in counts what arrives.

    .venv/bin/python bench/broadcast.py [--contacts 100000] [--rate 80] [--watch 20]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from loadgen import run, webhook_request
from sendwatch import WatchedGraphAPI
from server import SECRET, Server, _env

from sutra.store.db import migrate
from sutra.testing.graph_api import whatsapp_text_payload
from sutra.testing.openai_server import OpenAIStubServer

FLOW_UUID = "b0000000-0000-4000-8000-000000000001"
TIP = {
    "uuid": FLOW_UUID,
    "name": "Weekly tip",
    "spec_version": "13.2.0",
    "language": "base",
    "type": "messaging",
    "nodes": [
        {
            "uuid": "b0000000-0000-4000-8000-000000000002",
            "actions": [
                {
                    "uuid": "b0000000-0000-4000-8000-000000000003",
                    "type": "send_msg",
                    "text": "Hello @contact.name, this week: wash hands before meals.",
                    "quick_replies": [],
                    "attachments": [],
                }
            ],
            "exits": [{"uuid": "b0000000-0000-4000-8000-000000000004", "destination_uuid": None}],
        }
    ],
}


def _families(db: Path, count: int) -> None:
    """``count`` contacts in the group "families", written as one import would."""
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO groups (uuid, organization_id, name, created_at, updated_at) "
            "VALUES (?, 1, 'families', ?, ?)",
            (str(uuid.uuid4()), now, now),
        )
        group = conn.execute("SELECT id FROM groups WHERE name = 'families'").fetchone()[0]
        conn.executemany(
            "INSERT INTO contacts (uuid, organization_id, urn, name, fields, status, channel, "
            "created_at, updated_at) VALUES (?, 1, ?, ?, '{}', 'active', 'whatsapp', ?, ?)",
            (
                (str(uuid.uuid4()), f"whatsapp:9177{i:08d}", f"Family {i}", now, now)
                for i in range(count)
            ),
        )
        conn.execute(
            "INSERT INTO contact_groups (contact_id, group_id) SELECT id, ? FROM contacts",
            (group,),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=80.0, help="the number's msg/s limit")
    parser.add_argument("--watch", type=float, default=20.0, help="seconds of sending to time")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="sutra-broadcast-") as tmp,
        OpenAIStubServer(api_key="sk-bench") as llm,
        WatchedGraphAPI() as graph,
    ):
        database = f"sqlite:///{Path(tmp) / 'broadcast.db'}"
        migrate(database)
        _families(Path(tmp) / "broadcast.db", args.contacts)
        env = {**_env(database, llm, graph), "WHATSAPP_MESSAGES_PER_SECOND": str(args.rate)}
        server = Server(env, Path(tmp) / "server.log")
        try:
            server.api("POST", "/api/v1/flows/import", json=TIP).raise_for_status()
            server.api("POST", "/api/v1/flows/import", json=_ask_gpt()).raise_for_status()
            started = time.monotonic()
            response = server.api(
                "POST", f"/api/v1/flows/{FLOW_UUID}/start", json={"group": "families"}
            )
            response.raise_for_status()
            created = time.monotonic() - started
            body = response.json()
            print(f"{body['contacts']:,} starts created in {created:.1f} s")

            # Let the pace settle, then time a window of sending, with contacts writing in.
            time.sleep(3)
            first, first_at = graph.accepted, time.monotonic()
            waits = []
            deadline = first_at + args.watch
            writer = 0
            while time.monotonic() < deadline:
                number = f"9188{writer:08d}"
                writer += 1
                greeted = graph.expect([number], 1)
                sent = time.monotonic()
                run(
                    server.port,
                    [webhook_request(SECRET, whatsapp_text_payload(number, "askgpt"), server.port)],
                    1,
                )
                waits.append(greeted.wait(30) - sent)
                time.sleep(1)
            elapsed = time.monotonic() - first_at
            pace = (graph.accepted - first - writer) / elapsed
            progress = server.api("GET", f"/api/v1/broadcasts/{body['broadcast']}").json()
        finally:
            server.stop()
    waits.sort()
    print(
        f"sending at {pace:.1f} msg/s for {elapsed:.0f} s (limit {args.rate:g}/s); "
        f"{progress['started']:,} of {progress['total']:,} started so far"
    )
    print(
        f"{len(waits)} contacts writing in meanwhile: reply after median "
        f"{waits[len(waits) // 2] * 1000:.0f} ms, worst {waits[-1] * 1000:.0f} ms"
    )


def _ask_gpt() -> object:
    import json

    return json.loads(
        (Path(__file__).resolve().parent.parent / "examples" / "ask_gpt.json").read_text()
    )


if __name__ == "__main__":
    main()
