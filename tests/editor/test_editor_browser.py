"""The flow editor in a real browser: Debian's headless Chromium driven by Playwright, against
the real app under uvicorn on a loopback port, with the OpenAI stub as the model.

A staff member signs in, creates a flow, draws a GPT flow (message, wait, a webhook node with
the FUNCTION ``parse_via_chat_gpt`` picked from the list, the answer), sees it saved, reloads
and finds the same nodes, then runs it in the simulator and reads GPT's answer. The flow is
then exported, imported into a fresh Sutra, and must hold the same conversation there.

Needs Chromium and the editor's build (``make setup``): without them the tests fail in CI and
are skipped elsewhere. ``SUTRA_UPDATE_SCREENSHOTS=1`` refreshes the README's pictures in docs/.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sutra.config import ServerSettings, get_settings
from sutra.flows import parse_flow_file
from sutra.functions.registry import all_functions
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.testing.accounts import TEST_EMAIL, TEST_PASSWORD, ensure_user
from sutra.testing.live import LiveServer, in_ci, require_browser
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.web import editor, flowstore
from sutra.web.app import create_app

from .conftest import API_KEY, open_site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = (
    REPO_ROOT / "docs"
    if os.environ.get("SUTRA_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "sutra-editor-shots"
)
TIMEOUT_MS = 15_000
ANSWER = "Rain falls when tiny droplets in clouds join and grow too heavy to float."
QUESTION = "Why does it rain?"
GREETING = "Hi! Ask me anything."
BODY = json.dumps(
    {"question_text": "@results.question", "gpt_model": "gpt-4o", "prompt": "Answer briefly."},
    indent=1,
)


@pytest.fixture(scope="module", autouse=True)
def editor_present() -> None:
    require_browser()
    if not (editor.DEFAULT_BUILD / "asset-manifest.json").is_file():
        reason = f"the flow editor is not installed at {editor.DEFAULT_BUILD}: run `make setup`"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY) as server:
        yield server


def _clean_env(env: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_", "WHATSAPP_", "GUPSHUP_")):
            env.delenv(key)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as env:
        _clean_env(env)
        database = tmp_path_factory.mktemp("editor") / "sutra.db"
        app = create_app(
            f"sqlite:///{database}",
            settings=ServerSettings(),
            services=Services(llm=OpenAIProvider(api_key=API_KEY, base_url=stub.base_url)),
            sweep_every=0.2,
        )
        server = LiveServer(app)
        server.start()
        try:
            server.call(ensure_user(server.state.repo.sessions))
            yield server
        finally:
            server.stop()
            get_settings.cache_clear()


@pytest.fixture
def expected_errors() -> list[str]:
    """Console errors a test provokes on purpose (a refused request logs one)."""
    return []


@pytest.fixture
def context(
    browser: Browser, live: LiveServer, expected_errors: list[str]
) -> Iterator[BrowserContext]:
    """A browser session whose pages may log no error and fetch nothing from the internet."""
    opened = browser.new_context(viewport={"width": 1280, "height": 860})
    problems: list[str] = []
    outside: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if not request.url.startswith((live.url, "data:", "blob:"))
                else None
            ),
        )

    opened.on("page", watch)
    yield opened
    opened.close()
    assert sorted(problems) == sorted(expected_errors), problems
    # The editor works offline: it asks nothing of the internet.
    assert outside == [], outside


def _sign_in(page: Page, live: LiveServer) -> None:
    page.goto(f"{live.url}/flows")
    page.wait_for_url(f"{live.url}/login?next=/flows")
    page.fill("input[name=email]", TEST_EMAIL)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/flows")


def _drag_new_node(page: Page, dx: float, dy: float) -> None:
    """Drag from the first unconnected exit (its red circle) to empty canvas: a new node."""
    exit_ = page.locator(".plumb-exit .jtk-droppable").first
    exit_.wait_for(timeout=TIMEOUT_MS)
    box = exit_.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
    page.mouse.move(x + dx, y + dy, steps=10)
    page.mouse.up()


def _ok(page: Page) -> None:
    page.get_by_text("Ok", exact=True).click()


def _eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {value!r}")
        time.sleep(0.1)


def _saved(live: LiveServer, flow_uuid: str) -> dict[str, Any] | None:
    """The flow's newest revision, once it has four nodes and is the running one."""

    async def read() -> dict[str, Any] | None:
        flow = await flowstore.get_flow(live.state.repo, flow_uuid)
        assert flow is not None
        latest = await flowstore.latest_revision(live.state.repo, flow)
        if latest is None or len(latest.definition.get("nodes") or []) < 4:
            return None
        if flow.current_revision_id != latest.id:
            return None
        return latest.definition

    return live.call(read())


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draw_save_reload_and_run_a_gpt_flow(
    context: BrowserContext,
    live: LiveServer,
    stub: OpenAIStubServer,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    _sign_in(page, live)

    # A new flow opens in the editor, on its empty first revision.
    page.click("#new-flow")
    page.fill("#create-name", "Ask GPT (drawn)")
    page.fill("#create-keywords", "drawn")
    page.click("#create-form button[type=submit]")
    page.wait_for_url("**/edit")
    flow_uuid = page.url.split("/flows/")[1].split("/")[0]
    expect(page.locator("#flow-name")).to_have_text("Ask GPT (drawn)")

    # 1. The greeting: a send-message node.
    page.get_by_text("Create Message").click()
    page.locator("temba-completion[name=Message] textarea").fill(GREETING)
    _ok(page)

    # 2. Wait for the question, saved as a result.
    _drag_new_node(page, dx=200, dy=60)
    page.locator("temba-textinput[name='Result Name'] input").fill("question")
    _ok(page)

    # 3. A webhook node: FUNCTION, parse_via_chat_gpt picked from the list.
    _drag_new_node(page, dx=220, dy=60)
    page.locator("temba-select[data-testid=temba_select_type]").click()
    page.get_by_text("Call a webhook", exact=True).click()
    page.locator("temba-select[data-testid=temba_select_function]").click()
    for spec in all_functions():
        expect(page.get_by_text(spec.name, exact=True)).to_be_visible()
    page.wait_for_timeout(500)  # the list fades in: let the picture show it
    _shot(page, "editor-function.png")
    page.get_by_text("parse_via_chat_gpt", exact=True).click()
    page.locator("temba-textinput[name='Result Name'] input").fill("gpt_response")
    page.get_by_text("FUNCTION Body", exact=True).click()
    body = page.locator("temba-completion[name='FUNCTION Body'] textarea")
    # Picking the function filled in its body template.
    template = json.loads(body.input_value())
    assert set(template) == {"question_text", "gpt_model", "prompt"}
    body.fill(BODY)
    _ok(page)

    # 4. The answer, on the Success exit; "@results." offers the flow's results.
    _drag_new_node(page, dx=200, dy=40)
    message = page.locator("temba-completion[name=Message] textarea")
    message.click()
    page.keyboard.type("GPT says: @results.")
    expect(page.get_by_text("results.gpt_response", exact=True)).to_be_visible()
    expect(page.get_by_text("results.question", exact=True)).to_be_visible()
    message.fill("GPT says: @results.gpt_response.parsed_msg")
    _ok(page)

    # Saved by the editor on its own, as the running revision.
    definition = _eventually(lambda: _saved(live, flow_uuid))
    nodes = definition["nodes"]
    assert definition["spec_version"].startswith("14.")
    assert nodes[0]["actions"][0]["text"] == GREETING
    assert nodes[1]["router"]["result_name"] == "question"
    call = nodes[2]["actions"][0]
    assert (call["type"], call["method"], call["url"]) == (
        "call_webhook",
        "FUNCTION",
        "parse_via_chat_gpt",
    )
    assert json.loads(call["body"])["question_text"] == "@results.question"
    assert call["result_name"] == "gpt_response"
    assert nodes[3]["actions"][0]["text"] == "GPT says: @results.gpt_response.parsed_msg"
    page.mouse.click(1100, 700)  # away from any node, so no hover marks the picture
    _shot(page, "editor.png")

    # Reloaded, the editor shows the same nodes.
    page.reload()
    drawn = page.locator("[id].plumb-drag")
    expect(drawn).to_have_count(4, timeout=TIMEOUT_MS)
    assert sorted(drawn.evaluate_all("els => els.map(e => e.id)")) == sorted(
        node["uuid"] for node in nodes
    )
    expect(page.get_by_text(GREETING, exact=True)).to_be_visible()
    expect(page.get_by_text("parse_via_chat_gpt", exact=True)).to_be_visible()
    expect(page.get_by_text("Save as gpt_response", exact=True)).to_be_visible()

    # Try it in the simulator: the drawn flow runs at once, GPT (the stub) answers.
    stub.reset()
    stub.plan(Reply(ANSWER, delay=0.5))
    with context.expect_page() as opened:
        page.click("#try-link")
    simulator = opened.value
    simulator.wait_for_load_state()
    expect(simulator.locator("#flow-select")).to_have_value(flow_uuid)
    simulator.fill("#contact-input", "drawer")
    simulator.press("#contact-input", "Tab")
    simulator.click("#start-button")
    bot = simulator.locator(".row.bot .text")
    expect(bot.first).to_have_text(GREETING, timeout=TIMEOUT_MS)
    simulator.fill("#message-input", QUESTION)
    simulator.press("#message-input", "Enter")
    expect(bot).to_have_count(2, timeout=TIMEOUT_MS)
    expect(bot.last).to_have_text(f"GPT says: {ANSWER}")
    assert stub.requests[-1]["messages"][-1]["content"] == QUESTION
    assert stub.requests[-1]["model"] == "gpt-4o"

    # The editor counts the contact that went through (activity).
    activity = page.request.get(f"{live.url}/flow-editor/activity?flow={flow_uuid}").json()
    assert sum(activity["segments"].values()) >= 3

    # Exported and imported into a fresh Sutra, the drawn flow holds the same conversation.
    export = page.request.get(f"{live.url}/flows/{flow_uuid}/export")
    assert export.ok
    exported = export.body()

    with pytest.MonkeyPatch.context() as env:
        _clean_env(env)

        async def elsewhere() -> tuple[list[str], list[str]]:
            async with open_site(tmp_path / "fresh.db", stub) as fresh:
                imported = await fresh.http.post("/flows/import", content=exported)
                assert imported.status_code == 201, imported.text
                stub.plan(Reply(ANSWER))
                await fresh.start("asha", flow_uuid)
                await fresh.wait_for_texts("asha", 1)
                await fresh.send("asha", QUESTION)
                texts = await fresh.wait_for_texts("asha", 2)
                keywords = imported.json()["flows"][0]["keywords"]
                return texts, keywords

        # On a thread of its own: Playwright's sync API keeps an event loop on this one.
        with ThreadPoolExecutor(1) as pool:
            texts, keywords = pool.submit(asyncio.run, elsewhere()).result(timeout=60)
    assert texts == [GREETING, f"GPT says: {ANSWER}"]
    assert keywords == ["drawn"]


def test_the_flow_list_in_the_browser(
    context: BrowserContext, live: LiveServer, tmp_path: Path, expected_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    _sign_in(page, live)

    # Import a file through the file picker.
    example = REPO_ROOT / "examples" / "ask_gpt.json"
    page.set_input_files("#import-file", str(example))
    expect(page.locator("#notice")).to_contain_text("Imported Ask GPT", timeout=TIMEOUT_MS)
    row = page.locator("tr[data-uuid]", has_text="Ask GPT").first
    expect(row).to_be_visible()

    # A broken file is refused with its problems (the browser logs the 422 it got).
    expected_errors.append(
        "console error: Failed to load resource: the server responded with a status of 422 "
        "(Unprocessable Entity)"
    )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"flows": [{"definition": {"uuid": "x"}}]}))
    page.set_input_files("#import-file", str(broken))
    expect(page.locator("#notice")).to_contain_text("broken.json was not imported")
    expect(page.locator("#notice")).to_have_class("notice error")

    # Rename, with new keywords.
    page.click("#new-flow")
    page.fill("#create-name", "Old name")
    page.click("#create-form button[type=submit]")
    page.wait_for_url("**/edit")
    page.goto(f"{live.url}/flows")
    target = page.locator("tr[data-uuid]", has_text="Old name")
    target.locator("[data-rename]").click()
    page.fill("#rename-name", "New name")
    page.fill("#rename-keywords", "newname, renamed")
    page.click("#rename-save")
    renamed = page.locator("tr[data-uuid]", has_text="New name")
    expect(renamed).to_be_visible()
    expect(renamed.locator(".chip")).to_have_text(["newname", "renamed"])
    _shot(page, "flows.png")

    # Archive it (after the confirmation), then restore it.
    renamed.locator("[data-archive]").click()
    archived = page.locator("table.archived tr[data-uuid]", has_text="New name")
    expect(archived).to_be_visible()
    archived.locator("[data-restore]").click()
    expect(page.locator("table.archived")).to_have_count(0)
    expect(page.locator("tr[data-uuid]", has_text="New name")).to_be_visible()

    # Signing out ends the session: pages send you back to the form.
    page.click("#sign-out")
    page.wait_for_url(f"{live.url}/login")
    page.goto(f"{live.url}/flows")
    page.wait_for_url(f"{live.url}/login?next=/flows")


@pytest.mark.parametrize(
    "file",
    [
        REPO_ROOT / "examples" / "ask_gpt.json",
        REPO_ROOT.parent / "shared/glific-flows/feedback.json",
    ],
    ids=["spec-13-example", "glific-export"],
)
def test_opening_a_flow_saves_no_revision(
    context: BrowserContext, live: LiveServer, file: Path
) -> None:
    """Only an edit makes a revision: the editor's own upgrade of an older file on opening it
    (spec 13 to 14, positions laid out) is not one."""
    if not file.is_file():
        pytest.skip(f"{file} is not there")
    data = json.loads(file.read_text())
    imported = live.call(live.state.repo.import_flow_file(parse_flow_file(data)))[0]

    async def numbers() -> list[int]:
        flow = await flowstore.get_flow(live.state.repo, imported.uuid)
        assert flow is not None
        return [r.revision for r in await flowstore.revisions(live.state.repo, flow)]

    before = live.call(numbers())
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _sign_in(page, live)
    with page.expect_response(lambda r: "/flow-editor/revisions/" in r.url) as loaded:
        page.goto(f"{live.url}/flows/{imported.uuid}/edit")
    assert loaded.value.ok
    page.locator("[id].plumb-drag").first.wait_for()
    # Saves come about a second after a change: give one every chance to happen.
    page.wait_for_timeout(4000)
    assert live.call(numbers()) == before
    page.close()


def _parent_flow(child: str) -> dict[str, Any]:
    """A bare flow that emails (Sutra skips that) and then starts ``child`` as a sub-flow."""
    return {
        "uuid": "9a9a0000-0000-4000-8000-000000000001",
        "name": "Parent",
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "nodes": [
            {
                "uuid": "9a9a0000-0000-4000-8000-0000000000a1",
                "actions": [
                    {
                        "uuid": "9a9a0000-0000-4000-8000-0000000000b1",
                        "type": "transfer_airtime",
                        "amounts": {"INR": 10},
                        "result_name": "Airtime",
                    },
                    {
                        "uuid": "9a9a0000-0000-4000-8000-0000000000b2",
                        "type": "enter_flow",
                        "flow": {"uuid": child, "name": "Tea"},
                    },
                ],
                "router": {
                    "type": "switch",
                    "operand": "@child.run.status",
                    "cases": [],
                    "categories": [
                        {
                            "uuid": "9a9a0000-0000-4000-8000-0000000000c1",
                            "name": "Complete",
                            "exit_uuid": "9a9a0000-0000-4000-8000-0000000000d1",
                        }
                    ],
                    "default_category_uuid": "9a9a0000-0000-4000-8000-0000000000c1",
                },
                "exits": [{"uuid": "9a9a0000-0000-4000-8000-0000000000d1"}],
            }
        ],
    }


def test_import_warnings_stay_with_the_flow(
    context: BrowserContext, live: LiveServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from tests.web.consolekit import on_a_phone
    from tests.web.test_simulator_api import tea_flow

    tea = tea_flow()
    parent = tmp_path / "parent.json"
    parent.write_text(json.dumps(_parent_flow(tea["uuid"])))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _sign_in(page, live)
    page.set_input_files("#import-file", str(parent))
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Imported Parent (revision 1), with 2 warnings")
    # A warning, not a success.
    expect(notice).to_have_class("notice warn")
    row = page.locator("tr[data-uuid]", has_text="Parent")
    expect(row.locator(".badge.warn")).to_have_text("2 warnings")

    # Still there after a reload, listed in words, by node.
    page.reload()
    expect(page.locator("#notice")).to_be_hidden()
    row.locator("details.flow-issues summary").click()
    items = row.locator("details.flow-issues li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_text(
        'Node 1: action "transfer_airtime" is not supported; it will be skipped'
    )
    expect(items.nth(1)).to_contain_text('Node 1: sub-flow "Tea"')
    expect(items.nth(1)).to_contain_text("neither in this file nor imported already")

    # Once the sub-flow is here, importing the parent again does not call it missing.
    child = tmp_path / "tea.json"
    child.write_text(json.dumps(tea))
    page.set_input_files("#import-file", str(child))
    # The page reloads to show the import: upload the parent again only once it has.
    expect(notice).to_contain_text("Imported Tea (revision 1)")
    expect(notice).to_have_class("notice")
    page.wait_for_load_state("load")
    page.set_input_files("#import-file", str(parent))
    expect(notice).to_contain_text("Imported Parent (revision 1), with 1 warning:")
    expect(row.locator(".badge.warn")).to_have_text("1 warning")

    # The flow list fits a phone.
    on_a_phone(page, ["/flows"], live.url)
    page.close()
