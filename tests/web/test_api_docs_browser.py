"""The REST API's documentation (/docs, Swagger UI; /redoc, ReDoc) in a real browser (Debian's
headless Chromium driven by Playwright): both render the API from this server alone, asking
nothing of the internet (no CDN, no web fonts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from sutra.testing.live import LiveServer, require_browser
from tests.web.consolekit import TIMEOUT_MS, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("docs") / "sutra.db") as server:
        yield server


def _open(browser: Browser, live: LiveServer, path: str) -> tuple[Page, dict[str, str], list[str]]:
    """The page, what it asked of other hosts (URL -> why it failed, if it did) and its
    script errors."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    asked: dict[str, str] = {}
    problems: list[str] = []
    own = (live.url, "data:", f"blob:{live.url}")
    page.on("request", lambda r: asked.setdefault(r.url, "") if not r.url.startswith(own) else 0)
    page.on("requestfailed", lambda r: asked.update({r.url: r.failure or ""}))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live.url}{path}")
    return page, asked, problems


def _fetched(asked: dict[str, str]) -> list[str]:
    return [url for url, why in asked.items() if why not in ("csp", "net::ERR_BLOCKED_BY_CSP")]


def test_swagger_ui_works_offline(browser: Browser, live: LiveServer) -> None:
    page, asked, problems = _open(browser, live, "/docs")
    try:
        page.wait_for_selector(".swagger-ui .opblock")
        assert "Sutra" in page.inner_text(".swagger-ui .title")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/v1/broadcasts" in [p.replace("\u200b", "") for p in paths]
        page.wait_for_load_state("networkidle")
    finally:
        page.close()
    assert _fetched(asked) == [], asked
    assert problems == []


def test_redoc_works_offline(browser: Browser, live: LiveServer) -> None:
    page, asked, problems = _open(browser, live, "/redoc")
    try:
        page.wait_for_selector("h1")
        assert page.inner_text("h1").startswith("Sutra")
        # The operations are read from /openapi.json: the broadcasts' are among them.
        page.wait_for_selector("h2:has-text('Create Broadcast')")
        page.wait_for_load_state("networkidle")
    finally:
        page.close()
    assert _fetched(asked) == [], asked
    assert problems == []
