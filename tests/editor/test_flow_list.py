"""The flow list: create, rename, archive, restore, import and export (Glific files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sutra.testing.openai_server import OpenAIStubServer, Reply

from .conftest import Site, drawn_gpt_flow, open_site, send_only_flow, uid

SHARED = Path(__file__).resolve().parents[3] / "shared" / "glific-flows"


async def _simulator_flows(site: Site) -> list[dict[str, Any]]:
    flows: list[dict[str, Any]] = (await site.http.get("/simulator/api/flows")).json()["flows"]
    return flows


async def test_create_rename_and_archive(site: Site) -> None:
    created = await site.http.post("/flows", json={"name": "Survey", "keywords": "Start, survey"})
    assert created.status_code == 201
    flow = created.json()
    assert flow["keywords"] == ["start", "survey"]
    assert flow["edit_url"] == f"/flows/{flow['uuid']}/edit"
    page = await site.http.get("/flows")
    assert page.status_code == 200
    assert "Survey" in page.text and f"/flows/{flow['uuid']}/edit" in page.text
    assert "content-security-policy" in page.headers

    renamed = await site.http.patch(
        f"/flows/{flow['uuid']}", json={"name": "Farm survey", "keywords": "farm"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Farm survey"
    # The name is written into the definition too, as a new revision.
    opened = await site.open_latest(flow["uuid"])
    assert opened["definition"]["name"] == "Farm survey"
    assert opened["definition"]["revision"] == 2
    assert await _simulator_flows(site) == [
        {"uuid": flow["uuid"], "name": "Farm survey", "keywords": ["farm"]}
    ]

    archived = await site.http.patch(f"/flows/{flow['uuid']}", json={"archived": True})
    assert archived.json()["archived"] is True
    assert await _simulator_flows(site) == []
    page = await site.http.get("/flows")
    assert "Archived" in page.text and "Restore" in page.text
    restored = await site.http.patch(f"/flows/{flow['uuid']}", json={"archived": False})
    assert restored.json()["archived"] is False
    assert [f["name"] for f in await _simulator_flows(site)] == ["Farm survey"]


async def test_a_keyword_starts_one_flow_only(site: Site) -> None:
    first = await site.create_flow("First", "hello")
    clash = await site.http.post("/flows", json={"name": "Second", "keywords": "HELLO"})
    assert clash.status_code == 409
    assert "hello" in clash.json()["detail"]
    second = await site.create_flow("Second", "hi")
    assert (
        await site.http.patch(f"/flows/{second}", json={"keywords": "hello"})
    ).status_code == 409
    # Archived, the first no longer answers "hello", so the keyword is free; restoring then clashes.
    await site.http.patch(f"/flows/{first}", json={"archived": True})
    assert (
        await site.http.patch(f"/flows/{second}", json={"keywords": "hello"})
    ).status_code == 200
    restore = await site.http.patch(f"/flows/{first}", json={"archived": False})
    assert restore.status_code == 409
    assert "cannot restore" in restore.json()["detail"]


async def test_a_drawn_flow_starts_by_keyword_at_once(site: Site, stub: OpenAIStubServer) -> None:
    flow = await site.create_flow("Ask", "ask")
    await site.save(flow, drawn_gpt_flow(flow, "Ask", greeting="What is your question?"))
    # A keyword goes the same way as on WhatsApp: stored, then the pipeline starts the flow.
    await site.send("meera", "ask")
    assert await site.wait_for_texts("meera", 1) == ["What is your question?"]
    stub.plan(Reply("Plants make food from light."))
    await site.send("meera", "How do plants eat?")
    texts = await site.wait_for_texts("meera", 2)
    assert texts[-1] == "GPT says: Plants make food from light."
    assert stub.requests[-1]["messages"][-1]["content"] == "How do plants eat?"
    assert stub.requests[-1]["model"] == "gpt-4o"


async def test_import_a_glific_export_and_refuse_a_broken_file(site: Site) -> None:
    data = (SHARED / "direct_with_GPT.json").read_text()
    imported = await site.http.post(
        "/flows/import", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert imported.status_code == 201, imported.text
    flows = imported.json()["flows"]
    assert len(flows) == 1 and flows[0]["revision"] == 1
    page = await site.http.get("/flows")
    assert flows[0]["name"] in page.text

    broken = await site.http.post("/flows/import", json={"flows": [{"definition": {"x": 1}}]})
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["path"].startswith("flows[0].definition")
    not_json = await site.http.post("/flows/import", content=b"<html>")
    assert not_json.status_code == 422
    async with site.stranger() as stranger:
        assert (await stranger.post("/flows/import", content=data)).status_code == 401


async def test_export_is_a_glific_file_with_subflows_fields_and_groups(site: Site) -> None:
    child = await site.create_flow("Child", "child")
    await site.save(child, send_only_flow(child, "Child", "Hi @fields.district"))
    parent = await site.create_flow("Parent", "parent")
    definition = send_only_flow(parent, "Parent", "Hello @contact.fields.village")
    definition["nodes"][0]["actions"] += [
        {
            "uuid": uid(),
            "type": "set_contact_field",
            "field": {"key": "age_group", "name": "Age group"},
            "value": "adult",
        },
        {"uuid": uid(), "type": "add_contact_groups", "groups": [{"uuid": uid(), "name": "Vip"}]},
    ]
    enter = uid()
    definition["nodes"][0]["exits"][0]["destination_uuid"] = enter
    definition["nodes"].append(
        {
            "uuid": enter,
            "actions": [
                {"uuid": uid(), "type": "enter_flow", "flow": {"uuid": child, "name": "Child"}}
            ],
            "router": {
                "type": "switch",
                "operand": "@child.run.status",
                "cases": [],
                "categories": [{"uuid": "c-done", "name": "Complete", "exit_uuid": "x-done"}],
                "default_category_uuid": "c-done",
            },
            "exits": [{"uuid": "x-done", "destination_uuid": None}],
        }
    )
    saved = await site.save(parent, definition)
    assert saved.json()["revision"]["status"] == "published", saved.text

    response = await site.http.get(f"/flows/{parent}/export")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="parent.json"'
    exported = response.json()
    assert set(exported) == {"flows", "contact_field", "collections", "interactive_templates"}
    assert [f["definition"]["uuid"] for f in exported["flows"]] == [parent, child]
    assert [f["keywords"] for f in exported["flows"]] == [["parent"], ["child"]]
    assert exported["flows"][0]["definition"]["nodes"] == definition["nodes"]
    assert exported["contact_field"] == ["village", "age_group", "district"]
    assert exported["collections"] == ["Vip"]
    assert exported["interactive_templates"] == []


async def test_drawn_exported_and_imported_elsewhere_it_behaves_the_same(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    async def conversation(site: Site, flow: str) -> list[str]:
        stub.plan(Reply("Rain comes from clouds."))
        await site.start("asha", flow)
        await site.wait_for_texts("asha", 1)
        await site.send("asha", "Where does rain come from?")
        return await site.wait_for_texts("asha", 2)

    async with open_site(tmp_path / "first.db", stub) as first:
        flow = await first.create_flow("Rain", "rain")
        await first.save(flow, drawn_gpt_flow(flow, "Rain"))
        before = await conversation(first, flow)
        exported = (await first.http.get(f"/flows/{flow}/export")).content

    async with open_site(tmp_path / "fresh.db", stub) as fresh:
        imported = await fresh.http.post("/flows/import", content=exported)
        assert imported.status_code == 201, imported.text
        assert imported.json()["flows"][0]["keywords"] == ["rain"]
        after = await conversation(fresh, flow)
        again = (await fresh.http.get(f"/flows/{flow}/export")).json()

    assert before == after == ["Ask me anything.", "GPT says: Rain comes from clouds."]
    assert (
        again["flows"][0]["definition"]["nodes"]
        == json.loads(exported)["flows"][0]["definition"]["nodes"]
    )


async def test_help_page(site: Site) -> None:
    page = await site.http.get("/flows/help")
    assert page.status_code == 200
    assert "Flow Issues" in page.text
