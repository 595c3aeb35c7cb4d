"""The assistant pages in a real browser (Debian's headless Chromium driven by Playwright)
against the real app under uvicorn, with the OpenAI stub as the model: create an assistant,
upload the health FAQ, read its passages, try a question and see the passages it used, save new
instructions as a version, delete the document. Every page fits 390 px. With
``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/assistant.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.testing.live import LiveServer, require_browser
from sutra.testing.openai_server import OpenAIStubServer, Reply
from tests.web.consolekit import REPO_ROOT, live_server, on_a_phone, picture, signed_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

API_KEY = "sk-assistant-pages-0123456789"
FAQ = REPO_ROOT / "tests" / "assistants" / "health_faq.md"


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def live(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer) -> Iterator[LiveServer]:
    services = Services(llm=OpenAIProvider(api_key=API_KEY, base_url=stub.base_url))
    with live_server(tmp_path_factory.mktemp("assistants") / "sutra.db", services) as server:
        yield server


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    with signed_in_page(browser, live, "/assistants") as opened:
        yield opened


def test_make_an_assistant_give_it_documents_and_try_it(
    page: Page, live: LiveServer, stub: OpenAIStubServer
) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".empty")).to_contain_text("No assistants yet")
    page.fill("#create-name", "Health FAQ")
    page.fill("#create-id", "asst_health")
    page.fill("#create-instructions", "Answer community health workers in one sentence.")
    page.click("#create")
    page.wait_for_url(f"{live.url}/assistants/asst_health")
    expect(page.locator("#notice")).to_have_text("Created Health FAQ: now upload its documents.")
    expect(page.locator("#edit-instructions")).to_have_value(
        "Answer community health workers in one sentence."
    )

    # Upload the FAQ: it is cut into passages along its headings.
    page.set_input_files("#upload-file", str(FAQ))
    page.click("#upload")
    expect(page.locator("#notice")).to_contain_text("Added health_faq.md:")
    row = page.locator("#documents tr[data-document]")
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label=Document]")).to_contain_text("words only")
    row.locator("[data-show-chunks]").click()
    malaria = page.locator("#chunks details", has_text="How is malaria spread?")
    expect(malaria).to_have_count(1)
    malaria.locator("summary").click()
    expect(malaria.locator("p")).to_contain_text("female Anopheles")

    # Try a question: the answer with its source, and the passages the model was given.
    stub.plan(Reply("Through the bite of infected female Anopheles mosquitoes [1]."))
    page.fill("#ask-question", "How is malaria spread?")
    page.click("#ask")
    expect(page.locator("#answer-text")).to_contain_text("Sources:\n[1] health_faq.md")
    cited = page.locator("#passages li.cited")
    expect(cited).to_have_count(1)
    expect(cited).to_contain_text("How is malaria spread? (cited)")
    assert "female Anopheles" in stub.requests[-1]["messages"][0]["content"]
    page.locator("#documents-card > h2").scroll_into_view_if_needed()
    picture(page, "assistant.png")

    # A question the FAQ does not cover: "don't know", no passage, no model call.
    asked = len(stub.requests)
    page.fill("#ask-question", "Who won the 2022 football world cup?")
    page.click("#ask")
    expect(page.locator("#answer-mode")).to_have_text("the documents do not cover it")
    expect(page.locator("#passages li")).to_have_text("No passage was relevant enough.")
    assert len(stub.requests) == asked

    # New instructions: saved as version 2, live at once.
    page.fill("#edit-instructions", "Answer in two short sentences.")
    page.click("#save")
    expect(page.locator("#notice")).to_have_text("Saved as version 2, now live.")
    page.locator("#versions summary").click()
    expect(page.locator("#versions tr[data-version]")).to_have_count(2)
    expect(page.locator("#versions tr[data-version='2']")).to_contain_text("live")
    page.locator("[data-make-live='1']").click()
    expect(page.locator("#notice")).to_have_text("Version 1 is live.")

    on_a_phone(page, ["/assistants", "/assistants/asst_health"], live.url)

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("[data-delete-document]").click()
    expect(page.locator("#notice")).to_have_text("Deleted health_faq.md.")
    expect(page.locator("#documents-card .empty")).to_contain_text("No documents yet")
    page.goto(f"{live.url}/assistants")
    expect(
        page.locator("#assistants tr[data-key=asst_health] td[data-label=Documents]")
    ).to_have_text("0")


def test_mistakes_are_shown_with_their_reason(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.fill("#create-name", "One")
    page.fill("#create-id", "asst_one")
    page.click("#create")
    page.wait_for_url(f"{live.url}/assistants/asst_one")
    page.goto(f"{live.url}/assistants")
    page.fill("#create-name", "Two")
    page.fill("#create-id", "asst_one")
    page.click("#create")
    expect(page.locator("#notice.error")).to_contain_text("asst_one")
    response = page.goto(f"{live.url}/assistants/asst_missing")
    assert response is not None and response.status == 404
