"""The operator console's REST API (bearer token) on the real app: contact search and edits,
groups, typed fields, CSV import (with refused rows named) and export, flow results with
filters in JSON, CSV and XLSX, and AI usage. The pages use the same routes under /console/api;
one test checks that twin needs the session and its CSRF header."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy import update

from sutra.config import ServerSettings
from sutra.flows import parse_flow_file
from sutra.store import models as m
from sutra.testing.accounts import sign_in
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.support import eventually
from tests.web.test_simulator_api import tea_flow

TOKEN = "console-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEA = "c0ffee00-0000-4000-8000-000000000001"


@pytest.fixture
async def app(tmp_path: Path, clean_env: None) -> AsyncIterator[FastAPI]:
    made = create_app(
        f"sqlite:///{tmp_path / 'console.db'}",
        settings=ServerSettings(sutra_api_token=TOKEN),
        sweep_every=0.2,
    )
    async with made.router.lifespan_context(made):
        yield made


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=AUTH) as c:
        yield c


def state(app: FastAPI) -> AppState:
    found: AppState = app.state.sutra
    return found


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def import_csv(api: httpx.AsyncClient, text: str, **form: str) -> dict[str, Any]:
    files = {"file": ("people.csv", text.encode(), "text/csv")}
    job = ok(await api.post("/api/v1/contacts/imports", files=files, data=form), 202)

    async def finished() -> dict[str, Any] | None:
        now = ok(await api.get(f"/api/v1/contacts/imports/{job['uuid']}"))
        return now if now["status"] != "running" else None

    return await eventually(finished)


PEOPLE = """Name,Mobile,Lang,District,Groups
Asha Rao,098123 45678,Hindi,Pune,Teachers; Pune
Ravi Kumar,+91 99887 76655,en,Nashik,Teachers
Bad Number,12345,en,Pune,
Lena Ott,+49 30 901820,de,,Volunteers
"""


async def test_import_refuses_bad_rows_by_number_and_imports_the_rest(
    api: httpx.AsyncClient,
) -> None:
    files = {"file": ("people.csv", PEOPLE.encode(), "text/csv")}
    preview = ok(
        await api.post("/api/v1/contacts/imports/preview", files=files, data={"country": "IN"})
    )
    assert [c["target"] for c in preview["columns"]] == [
        "name",
        "phone",
        "language",
        "field:district",
        "groups",
    ]
    assert preview["new_fields"] == {"district": "District"}
    assert (preview["rows"], preview["valid"], preview["refused"]) == (4, 3, 1)
    assert preview["errors"] == [{"row": 4, "message": '"12345" is not a valid phone number in IN'}]
    assert preview["preview"][0]["phone"] == "+919812345678"
    # Nothing is stored by a preview.
    assert ok(await api.get("/api/v1/contacts"))["total"] == 0

    job = await import_csv(api, PEOPLE, country="IN", group="March drive")
    assert job["status"] == "done"
    assert (job["total"], job["created"], job["updated"], job["refused"]) == (4, 3, 0, 1)
    assert job["errors"][0]["row"] == 4

    found = ok(await api.get("/api/v1/contacts", params={"q": "asha"}))
    assert found["total"] == 1
    asha = found["results"][0]
    # Stored as the channels store WhatsApp contacts, so her next message finds her.
    assert (asha["urn"], asha["phone"], asha["language"]) == (
        "whatsapp:919812345678",
        "919812345678",
        "hi",
    )
    assert asha["fields"] == {"district": "Pune"}
    assert sorted(g["name"] for g in asha["groups"]) == ["March drive", "Pune", "Teachers"]
    fields = ok(await api.get("/api/v1/fields"))["results"]
    assert fields == [{"key": "district", "name": "District", "value_type": "text"}]

    # The same file again updates the same contacts rather than duplicating them.
    again = await import_csv(api, PEOPLE, country="IN")
    assert (again["created"], again["updated"], again["refused"]) == (0, 3, 1)
    assert ok(await api.get("/api/v1/contacts"))["total"] == 3


async def test_import_problems_are_4xx_naming_the_column_or_the_file(
    api: httpx.AsyncClient,
) -> None:
    async def preview(text: str, **form: str) -> httpx.Response:
        files = {"file": ("x.csv", text.encode(), "text/csv")}
        return await api.post("/api/v1/contacts/imports/preview", files=files, data=form)

    no_phone = await preview("name,age\nAsha,7\n")
    assert no_phone.status_code == 422
    assert "phone" in no_phone.json()["detail"]
    empty = await preview("")
    assert (empty.status_code, empty.json()["detail"]) == (422, "file: the file is empty")
    country = await preview("name,phone\nAsha,9812345678\n", country="XX")
    assert country.status_code == 422 and 'country "XX"' in country.json()["detail"]
    no_country = ok(await preview("name,phone\nAsha,9812345678\n"))
    assert "no country code" in no_country["errors"][0]["message"]
    bad_target = await preview("name,phone\nA,1\n", columns='["name", "email"]')
    assert bad_target.status_code == 422 and 'columns[1] ("phone")' in bad_target.json()["detail"]
    # A typed field refuses the row with the column named.
    ok(await api.post("/api/v1/fields", json={"name": "Age", "value_type": "number"}), 201)
    typed = ok(await preview("phone,age\n+919812345678,seven\n+919812345679,8\n"))
    assert typed["errors"] == [{"row": 2, "message": 'age: "seven" is not a number'}]
    assert typed["preview"][0]["fields"] == {"age": "8"}
    duplicate = ok(await preview("phone\n+919812345678\n+91 98123 45678\n"))
    assert duplicate["errors"] == [{"row": 3, "message": "+919812345678 is on row 2 already"}]


async def test_import_of_thousands_of_rows_reports_progress(api: httpx.AsyncClient) -> None:
    lines = ["name,phone"] + [f"Person {i},+9198{i:08d}" for i in range(5000)]
    files = {"file": ("many.csv", "\n".join(lines).encode(), "text/csv")}
    job = ok(await api.post("/api/v1/contacts/imports", files=files), 202)
    seen = {job["processed"]}
    while job["status"] == "running":
        await asyncio.sleep(0.01)
        job = ok(await api.get(f"/api/v1/contacts/imports/{job['uuid']}"))
        seen.add(job["processed"])
    assert job["status"] == "done"
    assert (job["total"], job["processed"], job["created"]) == (5000, 5000, 5000)
    # It moved in batches that a page could show, not in one jump at the end.
    assert len(seen) > 2, seen
    assert ok(await api.get("/api/v1/contacts", params={"limit": 1}))["total"] == 5000


async def test_contacts_search_filter_edit_and_groups(api: httpx.AsyncClient, app: FastAPI) -> None:
    await import_csv(api, PEOPLE, country="IN")
    everyone = ok(await api.get("/api/v1/contacts"))["results"]
    by_name = {c["name"]: c for c in everyone}
    # Seen recently, long ago, never.
    async with state(app).repo.sessions.begin() as db:
        now = datetime.now(UTC)
        for name, when in (
            ("Asha Rao", now - timedelta(hours=2)),
            ("Ravi Kumar", now - timedelta(days=45)),
        ):
            await db.execute(
                update(m.Contact)
                .where(m.Contact.uuid == by_name[name]["uuid"])
                .values(last_message_at=when)
            )

    async def names(**params: str) -> list[str]:
        found = ok(await api.get("/api/v1/contacts", params=params))
        return sorted(c["name"] for c in found["results"])

    assert await names(q="99887") == ["Ravi Kumar"]
    assert await names(q="+91 98123-45678") == ["Asha Rao"]
    assert await names(group="Teachers") == ["Asha Rao", "Ravi Kumar"]
    assert await names(language="de") == ["Lena Ott"]
    assert await names(field="district", value="pune") == ["Asha Rao"]
    assert await names(field="district") == ["Asha Rao", "Ravi Kumar"]
    assert await names(seen="7d") == ["Asha Rao"]
    assert await names(seen="over30d") == ["Lena Ott", "Ravi Kumar"]
    assert await names(seen="never") == ["Lena Ott"]
    bad = await api.get("/api/v1/contacts", params={"seen": "yesterday"})
    assert bad.status_code == 422 and "seen" in bad.text

    lena = by_name["Lena Ott"]["uuid"]
    ok(await api.post("/api/v1/fields", json={"name": "Date of birth", "value_type": "date"}), 201)
    changed = ok(
        await api.patch(
            f"/api/v1/contacts/{lena}",
            json={
                "name": "Lena M. Ott",
                "status": "stopped",
                "fields": {"date_of_birth": "7/3/1990"},
            },
        )
    )
    assert (changed["name"], changed["status"]) == ("Lena M. Ott", "stopped")
    assert changed["fields"]["date_of_birth"] == "1990-03-07"
    assert await names(status="stopped") == ["Lena M. Ott"]
    wrong = await api.patch(f"/api/v1/contacts/{lena}", json={"fields": {"date_of_birth": "soon"}})
    assert wrong.status_code == 422
    assert "fields.date_of_birth" in wrong.json()["detail"]

    group = ok(await api.post("/api/v1/groups", json={"name": "Helpers"}), 201)
    clash = await api.post("/api/v1/groups", json={"name": "Helpers"})
    assert clash.status_code == 409
    moved = ok(
        await api.post(
            f"/api/v1/groups/{group['uuid']}/contacts",
            json={"add": [lena, by_name["Asha Rao"]["uuid"]]},
        )
    )
    assert moved == {"added": 2, "removed": 0}
    assert await names(group=group["uuid"]) == ["Asha Rao", "Lena M. Ott"]
    ok(await api.post(f"/api/v1/groups/{group['uuid']}/contacts", json={"remove": [lena]}))
    ok(await api.patch(f"/api/v1/groups/{group['uuid']}", json={"name": "Helpers 2026"}))
    groups = {g["name"]: g["contacts"] for g in ok(await api.get("/api/v1/groups"))["results"]}
    assert groups["Helpers 2026"] == 1
    ok(await api.delete(f"/api/v1/groups/{group['uuid']}"), 204)
    assert "Helpers 2026" not in {g["name"] for g in ok(await api.get("/api/v1/groups"))["results"]}
    missing = await api.post(f"/api/v1/groups/{group['uuid']}/contacts", json={"add": [lena]})
    assert missing.status_code == 404


async def test_export_is_csv_that_opens_as_text_and_imports_back(
    api: httpx.AsyncClient,
) -> None:
    await import_csv(
        api, 'name,phone,notes\n"=HYPERLINK(""http://x"")",+919812345678,@risky\n', country="IN"
    )
    response = await api.get("/api/v1/contacts", params={"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["name"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["notes"] == "'@risky"
    assert rows[0]["phone"] == "+919812345678"
    # The export's columns are the import's: the same file updates the same contact.
    again = await import_csv(api, response.text)
    assert (again["created"], again["updated"], again["refused"]) == (0, 1, 0)


async def _run_tea(app: FastAPI, api: httpx.AsyncClient) -> None:
    await state(app).repo.import_flow_file(parse_flow_file(tea_flow()))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")
    async with http:
        await sign_in(http, state(app).repo.sessions)
        for contact, answer in (
            ("asha", "yes"),
            ("ravi", "no"),
            ("lena", "yes please"),
            ("omar", None),
        ):
            started = await http.post(
                "/simulator/api/start", json={"flow_uuid": TEA, "contact": contact}
            )
            assert started.is_success, started.text
            if answer:
                said = await http.post(
                    "/simulator/api/messages", json={"contact": contact, "text": answer}
                )
                assert said.is_success, said.text

        async def finished() -> bool:
            summary = ok(await api.get(f"/api/v1/flows/{TEA}/results/summary"))
            return summary["runs"] == 4 and summary["completed"] == 3

        await eventually(finished)


async def test_results_filter_by_category_and_download(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    await _run_tea(app, api)
    summary = ok(await api.get(f"/api/v1/flows/{TEA}/results/summary"))
    assert (summary["runs"], summary["completed"], summary["running"]) == (4, 3, 1)
    assert summary["completion_rate"] == 0.75
    (likes,) = summary["results"]
    assert likes["name"] == "Likes Tea"
    assert [(c["name"], c["count"]) for c in likes["categories"]] == [("Yes", 2), ("No", 1)]
    flows = ok(await api.get("/api/v1/flows"))["results"]
    assert (flows[0]["runs"], flows[0]["completion_rate"]) == (4, 0.75)

    yes = ok(await api.get(f"/api/v1/flows/{TEA}/results", params={"category": "likes_tea:Yes"}))
    assert sorted(r["input"] for r in yes["results"]) == ["yes", "yes please"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    none = ok(await api.get(f"/api/v1/flows/{TEA}/results", params={"since": tomorrow}))
    assert none["results"] == []
    backwards = await api.get(
        f"/api/v1/flows/{TEA}/results", params={"since": tomorrow, "until": "2020-01-01"}
    )
    assert backwards.status_code == 422 and "until" in backwards.text

    runs_csv = await api.get(
        f"/api/v1/flows/{TEA}/results", params={"format": "csv", "layout": "runs"}
    )
    table = list(csv.DictReader(io.StringIO(runs_csv.text)))
    assert len(table) == 4
    assert sorted(r["Likes Tea (category)"] for r in table) == ["", "No", "Yes", "Yes"]
    xlsx = await api.get(
        f"/api/v1/flows/{TEA}/results",
        params={"format": "xlsx", "layout": "runs", "category": "likes_tea:No"},
    )
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    line = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert sheet.max_row == 2
    assert (line["Likes Tea"], line["Likes Tea (category)"], line["urn"]) == (
        "no",
        "No",
        "sim:ravi",
    )
    assert isinstance(line["started"], datetime)


async def test_usage_reports_calls_per_day_flow_model_and_budget(
    api: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sutra.config import get_settings

    monkeypatch.setenv("SUTRA_LLM_MONTHLY_BUDGET", "2")
    get_settings.cache_clear()
    repo = state(app).repo
    asha = await repo.contact("whatsapp:919812345678", name="Asha")
    now = datetime.now(UTC)
    async with repo.sessions.begin() as db:
        for days_ago, cost in ((0, 0.25), (0, 0.25), (2, 0.5)):
            db.add(
                m.LLMUsage(
                    organization_id=repo.org,
                    contact_id=asha.id,
                    flow_uuid=TEA,
                    function="parse_via_chat_gpt",
                    provider="openai",
                    model="gpt-4o",
                    prompt_tokens=100,
                    completion_tokens=50,
                    latency_ms=800,
                    cost=cost,
                    created_at=now - timedelta(days=days_ago),
                )
            )
        db.add(
            m.WebhookLog(
                organization_id=repo.org,
                contact_id=asha.id,
                flow_uuid=TEA,
                method="FUNCTION",
                url="parse_via_chat_gpt",
                status_code=429,
                error="budget exceeded",
            )
        )
    data = ok(await api.get("/api/v1/usage"))
    assert data["total"]["calls"] == 3
    assert data["total"]["total_tokens"] == 450
    assert len(data["days"]) == 30
    today = data["days"][-1]
    assert (today["day"], today["calls"], today["cost"]) == (now.date().isoformat(), 2, 0.5)
    assert data["days"][-2]["calls"] == 0
    assert [(r["model"], r["calls"]) for r in data["models"]] == [("gpt-4o", 3)]
    assert data["contacts"][0]["contact"] == asha.uuid
    budget = data["budget"]
    if now.day >= 3:  # the call two days ago is in this month too
        assert (budget["spent_this_month"], budget["left"]) == (1.0, 1.0)
    assert budget["monthly_budget"] == 2.0
    assert data["failures"][0]["error"] == "budget exceeded"
    one_day = ok(await api.get("/api/v1/usage", params={"since": now.date().isoformat()}))
    assert one_day["total"]["calls"] == 2
    wrong = await api.get("/api/v1/usage", params={"since": "2020-01-01", "until": "2019-01-01"})
    assert wrong.status_code == 422


async def test_the_pages_twin_needs_a_session_and_csrf(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pages") as browser:
        assert (await browser.get("/console/api/groups")).status_code == 401
        await sign_in(browser, state(app).repo.sessions)
        ok(await browser.post("/console/api/groups", json={"name": "Staff"}), 201)
        del browser.headers["X-CSRFToken"]
        refused = await browser.post("/console/api/groups", json={"name": "Other"})
        assert refused.status_code == 403
        # And the REST API does not take the cookie for a token.
        assert (await browser.get("/api/v1/groups")).status_code == 401
