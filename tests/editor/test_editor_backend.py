"""The flow editor's backend under /flow-editor/, on the real app, with a signed-in client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sutra.config import ServerSettings
from sutra.expressions.evaluate import _FUNCTIONS
from sutra.store import models as m
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.web import completion, editor
from tests.support import eventually

from .conftest import Site, drawn_gpt_flow, open_site, send_only_flow, uid

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


# --- the endpoints the editor asks for at load ---------------------------------------------------


async def test_every_endpoint_the_editor_calls_answers_well_formed(site: Site) -> None:
    flow = await site.create_flow("Greeting")
    config = editor.editor_config(flow)
    endpoints = config["endpoints"]
    # Every key the editor reads must be a string, or it crashes while loading.
    for key in [
        "channels",
        "classifiers",
        "languages",
        "flows",
        "fields",
        "globals",
        "groups",
        "revisions",
        "labels",
        "recipients",
        "contacts",
        "resthooks",
        "templates",
        "validateMedia",
        "interactives",
        "sheets",
        "waGroupFields",
        "optins",
        "ticketers",
        "users",
        "topics",
        "activity",
        "completion",
        "attachments",
        "recents",
        "environment",
        "editor",
        "contact",
    ]:
        assert isinstance(endpoints[key], str) and endpoints[key].startswith("/"), key

    lists = [
        "channels",
        "classifiers",
        "flows",
        "fields",
        "globals",
        "groups",
        "labels",
        "recipients",
        "resthooks",
        "templates",
        "interactives",
        "sheets",
        "waGroupFields",
        "optins",
        "ticketers",
        "users",
        "topics",
    ]
    for key in lists:
        response = await site.http.get(endpoints[key])
        assert response.status_code == 200, (key, response.text)
        assert isinstance(response.json()["results"], list), key

    languages = (await site.http.get(endpoints["languages"])).json()["results"]
    assert languages[0] == {"iso": "eng", "name": "English", "default": True}
    activity = (await site.http.get(f"{endpoints['activity']}?flow={flow}")).json()
    assert activity == {"nodes": {}, "segments": {}, "recentMessages": {}}
    environment = (await site.http.get(endpoints["environment"])).json()
    assert environment["timezone"] == "UTC"
    media = await site.http.get(endpoints["validateMedia"], params={"url": "https://x.org/a.png"})
    assert media.json()["is_valid"] is True
    bad_media = await site.http.get(endpoints["validateMedia"], params={"url": "ftp://x"})
    assert bad_media.json()["is_valid"] is False
    recents = await site.http.get(f"{endpoints['recents']}{uid()}/{uid()}/{flow}/")
    assert recents.json() == []


async def test_slashes_do_not_matter(site: Site) -> None:
    flow = await site.create_flow("Slashes")
    for path in (
        "/flow-editor/groups",
        "/flow-editor/groups/",
        "/flow-editor//groups",
        "/flow-editor/groups//",
        "/flow-editor/fields/?scope=contact",
    ):
        response = await site.http.get(path)
        # Answered directly: the editor does not follow redirects reliably.
        assert response.status_code == 200, path
        assert response.json()["results"] == [], path
    listed = await site.http.get(f"/flow-editor/revisions//{flow}?version=14.3")
    first = listed.json()["results"][0]["id"]
    for path in (
        f"/flow-editor/revisions/{flow}/{first}/?version=14.3",
        f"/flow-editor/revisions/{flow}/{first}?version=14.3",
        f"/flow-editor/revisions//{flow}//{first}",
    ):
        response = await site.http.get(path)
        assert response.status_code == 200, path
        assert response.json()["definition"]["uuid"] == flow
    assert (await site.http.get("/flow-editor/nothing-here")).status_code == 404
    assert (await site.http.delete(f"/flow-editor/revisions/{flow}")).status_code == 405


async def test_needs_a_session_and_csrf(site: Site) -> None:
    flow = await site.create_flow("Guarded")
    async with site.stranger() as stranger:
        for path in ("/flow-editor/groups", f"/flow-editor/revisions/{flow}", "/flow-editor/x"):
            response = await stranger.get(path)
            assert response.status_code == 401, path
        saved = await stranger.post(f"/flow-editor/revisions/{flow}/", json={})
        assert saved.status_code == 401
    # Signed in, but without the header: a cross-site form could do that much.
    token = site.http.headers.pop("X-CSRFToken")
    definition = send_only_flow(flow, "Guarded", "hi")
    assert (await site.save(flow, definition)).status_code == 403
    site.http.headers["X-CSRFToken"] = "not-the-token"
    assert (await site.save(flow, definition)).status_code == 403
    site.http.headers["X-CSRFToken"] = token
    assert (await site.save(flow, definition)).status_code == 200


# --- revisions -----------------------------------------------------------------------------------


async def test_a_new_flow_opens_on_an_empty_first_revision(site: Site) -> None:
    flow = await site.create_flow("Fresh")
    revisions = await site.revisions(flow)
    assert [r["revision"] for r in revisions] == [1]
    assert revisions[0]["status"] == "published"
    assert revisions[0]["user"]["name"] == "tester@example.org"
    opened = await site.open_latest(flow)
    definition = opened["definition"]
    assert definition["uuid"] == flow
    assert definition["name"] == "Fresh"
    assert definition["nodes"] == []
    # The editor counts its saves from the definition's own number.
    assert definition["revision"] == 1
    assert definition["_ui"]["nodes"] == {}
    assert opened["metadata"]["issues"] == [] and opened["issues"] == []


async def test_a_save_is_a_new_revision_that_runs_at_once(site: Site) -> None:
    flow = await site.create_flow("Changing")
    first = await site.save(flow, send_only_flow(flow, "Changing", "Version one"))
    assert first.status_code == 200
    answer = first.json()
    assert answer["revision"]["revision"] == 2
    assert answer["revision"]["status"] == "published"
    assert answer["issues"] == []
    assert {"id", "revision", "version", "created_on", "user"} <= set(answer["revision"])
    await site.start("asha", flow)
    assert await site.wait_for_texts("asha", 1) == ["Version one"]

    second = await site.save(flow, send_only_flow(flow, "Changing", "Version two"))
    assert second.json()["revision"]["revision"] == 3
    await site.start("ravi", flow)
    assert await site.wait_for_texts("ravi", 1) == ["Version two"]

    listed = await site.revisions(flow)
    assert [r["revision"] for r in listed] == [3, 2, 1]
    assert [r["status"] for r in listed] == ["published", "saved", "saved"]
    opened = await site.open_latest(flow)
    assert opened["definition"]["revision"] == 3
    assert opened["definition"]["nodes"][0]["actions"][0]["text"] == "Version two"
    # The spec version is stored as the editor wrote it: nothing migrates definitions.
    assert listed[0]["version"] == "14.3.0"


async def test_an_unchanged_save_is_not_a_new_revision(site: Site) -> None:
    flow = await site.create_flow("Steady")
    definition = send_only_flow(flow, "Steady", "Same")
    assert (await site.save(flow, definition)).json()["revision"]["revision"] == 2
    # The editor often posts twice in a row; the second carries the number it was given.
    again = await site.save(flow, {**definition, "revision": 2})
    assert again.json()["revision"]["revision"] == 2
    assert [r["revision"] for r in await site.revisions(flow)] == [2, 1]


async def test_an_invalid_definition_is_kept_flagged_and_not_run(site: Site) -> None:
    flow = await site.create_flow("Broken")
    good = send_only_flow(flow, "Broken", "Still fine")
    await site.save(flow, good)
    broken = json.loads(json.dumps(good))
    node = broken["nodes"][0]
    node["exits"][0]["destination_uuid"] = "no-such-node"
    node["actions"].append(
        {"uuid": "act-2", "type": "call_webhook", "method": "FUNCTION", "url": "no_such_fn"}
    )
    response = await site.save(flow, broken)
    assert response.status_code == 200
    answer = response.json()
    assert answer["revision"]["revision"] == 3
    assert answer["revision"]["status"] == "invalid"
    issues = {i["description"]: i for i in answer["issues"]}
    missing = issues['no node "no-such-node" in this flow']
    assert missing["node_uuid"] == node["uuid"] and missing["severity"] == "error"
    unknown = issues['unknown function "no_such_fn"; the call will take the Failure branch']
    assert unknown["action_uuid"] == "act-2" and unknown["severity"] == "warning"

    # The editor reopens what was drawn, problems and all...
    opened = await site.open_latest(flow)
    assert opened["definition"]["nodes"][0]["exits"][0]["destination_uuid"] == "no-such-node"
    assert {i["description"] for i in opened["issues"]} == set(issues)
    # ...while contacts keep running the last good revision.
    statuses = [r["status"] for r in await site.revisions(flow)]
    assert statuses == ["invalid", "published", "saved"]
    await site.start("lena", flow)
    assert await site.wait_for_texts("lena", 1) == ["Still fine"]


async def test_a_save_the_engine_cannot_even_read_is_kept_too(site: Site) -> None:
    flow = await site.create_flow("Garbled")
    garbled = {"uuid": flow, "name": "Garbled", "nodes": [{"uuid": "n1", "exits": []}]}
    answer = (await site.save(flow, garbled)).json()
    assert answer["revision"]["status"] == "invalid"
    assert any("exits" in i["path"] for i in answer["issues"])


async def test_refused_saves_explain_why(site: Site) -> None:
    flow = await site.create_flow("Mine")
    other = await site.save(flow, send_only_flow(uid(), "Other", "x"))
    assert other.status_code == 400
    assert "not " + flow in other.json()["description"]
    not_json = await site.http.post(
        f"/flow-editor/revisions/{flow}", content=b"{oops", headers={"Content-Type": "text/plain"}
    )
    assert not_json.status_code == 400
    assert (await site.save(uid(), send_only_flow(flow, "Mine", "x"))).status_code == 404
    assert (await site.http.get(f"/flow-editor/revisions/{flow}/999999")).status_code == 404
    assert (await site.http.get(f"/flow-editor/revisions/{flow}/abc")).status_code == 404


async def test_the_body_is_read_whatever_the_content_type(site: Site) -> None:
    flow = await site.create_flow("Typed")
    body = json.dumps(send_only_flow(flow, "Typed", "plain")).encode()
    response = await site.http.post(
        f"/flow-editor/revisions/{flow}/", content=body, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    assert response.json()["revision"]["revision"] == 2


async def test_a_flow_without_layout_opens_with_one(site: Site) -> None:
    """Files written by hand or other tools have no ``_ui``: the editor needs positions."""
    data = json.loads((EXAMPLES / "ask_gpt.json").read_text())
    definition = data["flows"][0]["definition"]
    definition.pop("_ui", None)
    imported = await site.http.post("/flows/import", content=json.dumps(definition))
    assert imported.status_code == 201, imported.text
    opened = await site.open_latest(definition["uuid"])
    ui = opened["definition"]["_ui"]["nodes"]
    assert set(ui) == {node["uuid"] for node in definition["nodes"]}
    tops = [ui[node["uuid"]]["position"]["top"] for node in definition["nodes"]]
    assert tops[0] < max(tops)  # laid out downwards from the first node
    assert all(entry["type"] for entry in ui.values())


# --- fields, groups, labels, globals ----------------------------------------------------------


async def test_fields_and_groups_typed_in_the_editor_are_created(site: Site) -> None:
    created = await site.http.post(
        "/flow-editor/fields", json={"label": "Favourite Colour", "value_type": "text"}
    )
    assert created.status_code == 200
    assert created.json() == {
        "key": "favourite_colour",
        "name": "Favourite Colour",
        "label": "Favourite Colour",
        "value_type": "text",
        "scope": "contact",
    }
    again = await site.http.post("/flow-editor/fields/", json={"label": "Favourite Colour"})
    assert again.json()["key"] == "favourite_colour"
    fields = (await site.http.get("/flow-editor/fields?scope=contact")).json()["results"]
    assert [f["key"] for f in fields] == ["favourite_colour"]
    wa = (await site.http.get("/flow-editor/fields?scope=wa_group")).json()["results"]
    assert wa == []

    group = (await site.http.post("/flow-editor/groups", json={"name": "Farmers"})).json()
    assert group["name"] == "Farmers" and group["type"] == "group" and group["uuid"]
    listed = (await site.http.get("/flow-editor/groups")).json()["results"]
    assert listed == [group]
    assert (await site.http.post("/flow-editor/groups", json={"name": " "})).status_code == 400
    assert (await site.http.post("/flow-editor/fields", json={"label": "!!"})).status_code == 400


async def test_labels_come_from_the_flows_and_globals_from_the_table(site: Site) -> None:
    flow = await site.create_flow("Labelled")
    definition = send_only_flow(flow, "Labelled", "hi")
    definition["nodes"][0]["actions"].append(
        {"uuid": uid(), "type": "add_input_labels", "labels": [{"uuid": "l-1", "name": "Urgent"}]}
    )
    await site.save(flow, definition)
    labels = (await site.http.get("/flow-editor/labels/")).json()["results"]
    assert labels == [{"uuid": "l-1", "name": "Urgent"}]
    made = (await site.http.post("/flow-editor/labels", json={"name": "Later"})).json()
    assert made["name"] == "Later" and made["uuid"]
    async with site.state.repo.sessions.begin() as db:
        db.add(m.Global(organization_id=1, key="org_name", name="Org Name", value="Seva"))
    globals_ = (await site.http.get("/flow-editor/globals")).json()["results"]
    assert globals_ == [{"key": "org_name", "name": "Org Name", "value": "Seva"}]


async def test_languages_are_those_in_use(site: Site) -> None:
    await site.state.repo.contact("sim:meera")
    async with site.state.repo.sessions.begin() as db:
        contact = await db.get(m.Contact, 1)
        assert contact is not None
        contact.language = "hi"
    languages = (await site.http.get("/flow-editor/languages")).json()["results"]
    assert [(lang["iso"], lang["default"]) for lang in languages] == [
        ("eng", True),
        ("hin", False),
    ]


# --- completion --------------------------------------------------------------------------------


async def test_completion_offers_every_function_with_its_body(site: Site) -> None:
    data = (await site.http.get("/flow-editor/completion")).json()
    choices = {entry["name"]: entry for entry in data["webhook"]}
    gpt = choices["parse_via_chat_gpt"]
    assert set(json.loads(gpt["body"])) == {"question_text", "gpt_model", "prompt"}
    assert json.loads(gpt["response_format_example"])["success"] is True
    assert gpt["headers"] == {"Content-Type": "application/json"}
    assert {"check_response", "get_buttons"} <= set(choices)

    context = data["context"]
    types = {t["name"]: t for t in context["types"]}
    roots = {r["key"]: r["type"] for r in context["root"]}
    # Every root names a type the schema describes, so autocomplete can go one level down.
    assert all(kind in types for kind in roots.values())
    assert roots["results"] == "results" and types["results"]["key_source"] == "results"
    assert types["fields"]["property_template"]["key"] == "{key}"
    result_props = {p["key"] for p in types["result"]["properties"]}
    assert {"value", "category", "parsed_msg"} <= result_props
    assert {r["key"] for r in context["root_no_session"]} <= set(roots)
    assert data["functions"] == completion.FUNCTIONS


def test_every_function_offered_is_one_the_evaluator_knows() -> None:
    for option in completion.FUNCTIONS:
        name = option["signature"].split("(")[0]
        assert name in _FUNCTIONS or name in ("today", "now"), name
        assert option["examples"][0]["template"].startswith("@(")


# --- activity ----------------------------------------------------------------------------------


async def test_activity_counts_contacts_at_each_node(site: Site, stub: OpenAIStubServer) -> None:
    flow = await site.create_flow("Busy")
    definition = drawn_gpt_flow(flow, "Busy")
    await site.save(flow, definition)
    wait, call = definition["nodes"][1]["uuid"], definition["nodes"][2]["uuid"]
    for name in ("asha", "ravi"):
        await site.start(name, flow)
        await site.wait_for_texts(name, 1)

    async def waiting_two() -> dict[str, Any] | None:
        data: dict[str, Any] = (
            await site.http.get("/flow-editor/activity", params={"flow": flow})
        ).json()
        return data if data["nodes"].get(wait) == 2 else None

    activity = await eventually(waiting_two)
    greet_exit = definition["nodes"][0]["exits"][0]["uuid"]
    assert activity["segments"] == {f"{greet_exit}:{wait}": 2}

    stub.plan(Reply("Forty-two."))
    await site.send("asha", "What is the answer?")
    assert (await site.wait_for_texts("asha", 2))[-1] == "GPT says: Forty-two."

    async def moved_on() -> dict[str, Any] | None:
        data: dict[str, Any] = (
            await site.http.get("/flow-editor/activity", params={"flow": flow})
        ).json()
        return data if data["nodes"].get(wait) == 1 else None

    activity = await eventually(moved_on)
    wait_exit = definition["nodes"][1]["exits"][0]["uuid"]
    assert activity["segments"][f"{wait_exit}:{call}"] == 1
    recents = await site.http.get(f"/flow-editor/recents/{wait_exit}/{call}/{flow}/")
    (recent,) = recents.json()
    assert recent["contact"]["name"] == "asha"
    assert recent["time"]


# --- the editor page ---------------------------------------------------------------------------


def _fake_build(root: Path) -> Path:
    """A build folder shaped like the package's, for testing the page without npm."""
    build = root / "build"
    (build / "static" / "js").mkdir(parents=True)
    (build / "static" / "css").mkdir(parents=True)
    (build / "static" / "temba-components").mkdir(parents=True)
    entrypoints = [
        "static/js/runtime-main.0a1b2c3d.js",
        "static/js/2.4e5f6a7b.chunk.js",
        "static/css/main.8c9d0e1f.chunk.css",
        "static/js/main.2a3b4c5d.chunk.js",
    ]
    for entry in entrypoints:
        (build / entry).write_text("/* é */", encoding="utf-8")
    (build / "static/temba-components/temba-components.js").write_text("// temba", "utf-8")
    (build / "asset-manifest.json").write_text(
        json.dumps({"files": {}, "entrypoints": entrypoints})
    )
    (build / "index.html").write_text(
        "<html><head><style>html{--color-primary:#123}</style></head></html>", "utf-8"
    )
    (build / "favicon.ico").write_bytes(b"\0")
    (root / "package.json").write_text(json.dumps({"version": editor.PINNED_VERSION}))
    return build


async def test_the_editor_page_loads_the_build_in_order(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    build = _fake_build(tmp_path / "pkg")
    settings = ServerSettings(sutra_editor_build=build)
    async with open_site(tmp_path / "sutra.db", stub, settings) as site:
        flow = await site.create_flow("Paged </script>")
        page = await site.http.get(f"/flows/{flow}/edit")
        assert page.status_code == 200
        html = page.text
        assert html.index('<meta charset="utf-8">') < html.index("<script")
        tags = [
            "<style>html{--color-primary:#123}</style>",
            '<script src="/static/temba-components/temba-components.js"></script>',
            '<link rel="stylesheet" href="/static/css/main.8c9d0e1f.chunk.css">',
            '<script src="/static/js/runtime-main.0a1b2c3d.js"></script>',
            '<script src="/static/js/2.4e5f6a7b.chunk.js"></script>',
            '<script src="/static/js/main.2a3b4c5d.chunk.js"></script>',
            '<script src="/static/sutra/editor.js"></script>',
        ]
        positions = [html.index(tag) for tag in tags]
        assert positions == sorted(positions)
        assert f'href="/simulator?flow={flow}"' in html
        assert "Paged &lt;/script&gt;" in html
        assert "unsafe-eval" in page.headers["content-security-policy"]
        config_text = html.split('id="editor-config">')[1].split("</script>")[0]
        config = json.loads(config_text)
        assert config["flow"] == flow
        assert config["endpoints"]["revisions"] == f"/flow-editor/revisions/{flow}"
        # No external address anywhere: the editor works offline.
        assert "https://" not in html and "http://" not in html

        script = await site.http.get("/static/js/main.2a3b4c5d.chunk.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "immutable" in script.headers["cache-control"]
        temba = await site.http.get("/static/temba-components/temba-components.js")
        assert temba.headers["content-type"] == "text/javascript; charset=utf-8"
        own = await site.http.get("/static/sutra/editor.js")
        assert own.status_code == 200 and "showFlowEditor" in own.text
        assert (await site.http.get("/favicon.ico")).status_code == 200


async def test_without_the_build_the_page_says_to_run_make_setup(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    settings = ServerSettings(sutra_editor_build=tmp_path / "nowhere")
    async with open_site(tmp_path / "sutra.db", stub, settings) as site:
        flow = await site.create_flow("Unbuilt")
        page = await site.http.get(f"/flows/{flow}/edit")
        assert page.status_code == 503
        assert "make setup" in page.text
        assert editor.PINNED_VERSION in page.text
        # Everything else still works.
        assert (await site.http.get("/flows")).status_code == 200
        assert (await site.http.get("/flow-editor/groups")).status_code == 200
        assert (await site.http.get("/static/sutra/sutra.js")).status_code == 200


def test_the_pinned_editor_is_the_one_installed() -> None:
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["dependencies"] == {editor.PACKAGE: editor.PINNED_VERSION}
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    assert lock["packages"][f"node_modules/{editor.PACKAGE}"]["version"] == editor.PINNED_VERSION
    if not editor.DEFAULT_BUILD.is_dir():
        from sutra.testing.live import in_ci

        if in_ci():
            pytest.fail("the flow editor is not installed: `make setup` must install it")
        pytest.skip("the flow editor is not installed (make setup)")
    build = editor.load_build(editor.DEFAULT_BUILD)
    assert build.version == editor.PINNED_VERSION
    assert build.temba_components is not None
    assert [Path(s).name.split(".")[0] for s in build.scripts] == ["runtime-main", "2", "main"]
    assert "--color-primary-dark" in build.inline_style


async def test_pages_need_a_session(site: Site) -> None:
    flow = await site.create_flow("Private")
    async with site.stranger() as stranger:
        for path in ("/flows", f"/flows/{flow}/edit", f"/flows/{flow}/export", "/simulator"):
            response = await stranger.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/login?next=" + path
        created = await stranger.post("/flows", json={"name": "Sneaky"})
        assert created.status_code == 401


async def test_unknown_flows_are_404(site: Site) -> None:
    missing = uid()
    for path in (f"/flows/{missing}/edit", f"/flows/{missing}/export"):
        assert (await site.http.get(path)).status_code == 404
    assert (await site.http.get(f"/flow-editor/revisions/{missing}")).status_code == 404
    response = await site.http.patch(f"/flows/{missing}", json={"name": "x"})
    assert response.status_code == 404


async def test_rest_api_and_channel_webhooks_need_no_session(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    settings = ServerSettings(sutra_api_token="api-token-123", gupshup_webhook_token="gs-token")
    async with open_site(tmp_path / "sutra.db", stub, settings, signed_in=False) as site:
        api = await site.http.get(
            "/api/v1/flows", headers={"Authorization": "Bearer api-token-123"}
        )
        assert api.status_code == 200
        # A POST without any cookie or CSRF header: programs call these, not browsers.
        flow = send_only_flow(uid(), "Via API", "hello")
        imported = await site.http.post(
            "/api/v1/flows/import",
            json=flow,
            headers={"Authorization": "Bearer api-token-123"},
        )
        assert imported.status_code == 201
        webhook = await site.http.post("/webhooks/gupshup?token=gs-token", json={"type": "x"})
        assert webhook.status_code not in (401, 403)


async def test_a_fresh_client_sees_the_login_form(site: Site) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app), base_url="http://t"
    ) as fresh:
        home = await fresh.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/flows"
        form = await fresh.get("/login?next=/flows/x/edit")
        assert form.status_code == 200
        assert 'name="email"' in form.text and 'name="password"' in form.text
        assert 'value="/flows/x/edit"' in form.text
