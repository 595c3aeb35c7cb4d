"""What the console's browser tests share: the app under uvicorn, a signed-in Chromium page that
must raise no script error and fetch nothing from the internet, the 390 px check, pictures.

With ``SUTRA_UPDATE_SCREENSHOTS=1`` the pictures go to ``docs/`` (the README's); otherwise to
a temporary folder, so a test run leaves the tree clean.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sutra.config import ServerSettings, get_settings
from sutra.functions.services import Services
from sutra.testing.accounts import TEST_EMAIL, TEST_PASSWORD, ensure_user
from sutra.testing.live import LiveServer
from sutra.web.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
PICTURES = (
    REPO_ROOT / "docs"
    if os.environ.get("SUTRA_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "sutra-console"
)
TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@contextmanager
def live_server(
    database: Path, services: Services | None = None, settings: dict[str, Any] | None = None
) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as env:
        # Nothing from this machine's environment (a real key, a database) reaches the app.
        for key in list(os.environ):
            if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_", "WHATSAPP_", "GUPSHUP_")):
                env.delenv(key)
        get_settings.cache_clear()
        app = create_app(
            f"sqlite:///{database}",
            settings=ServerSettings(**(settings or {})),
            services=services,
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


@contextmanager
def signed_in_page(
    browser: Browser,
    live: LiveServer,
    path: str,
    *,
    email: str = TEST_EMAIL,
    password: str = TEST_PASSWORD,
) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    outside: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and "status of 4" not in message.text
            else None
        ),
    )
    opened.on(
        "request",
        lambda request: (
            outside.append(request.url) if not request.url.startswith((live.url, "data:")) else None
        ),
    )
    opened.goto(f"{live.url}{path}")
    # Not signed in yet: the page sends the browser to the sign-in form first.
    opened.fill("input[name=email]", email)
    opened.fill("input[name=password]", password)
    opened.click("button[type=submit]")
    opened.wait_for_url(f"{live.url}{path}")
    try:
        yield opened
    finally:
        context.close()
    assert problems == [], problems
    # The pages work offline: they ask nothing of the internet.
    assert outside == [], outside


@contextmanager
def staff_client(live: LiveServer) -> Iterator[httpx.Client]:
    """A signed-in HTTP client on the live server, for setting things up as staff would."""
    with httpx.Client(base_url=live.url, timeout=30) as client:
        response = client.post("/login", data={"email": TEST_EMAIL, "password": TEST_PASSWORD})
        assert response.status_code == 303, response.text
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        yield client


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.evaluate("() => window.innerWidth")
    assert width <= viewport, f"{page.url} is {width} px wide in a {viewport} px window"


def on_a_phone(page: Page, paths: list[str], base: str) -> None:
    """Each page at 390 px: nothing sticks out sideways."""
    page.set_viewport_size(PHONE)
    for path in paths:
        page.goto(f"{base}{path}")
        no_sideways_scroll(page)
    page.set_viewport_size(DESKTOP)


def picture(page: Page, name: str, **options: Any) -> Path:
    PICTURES.mkdir(parents=True, exist_ok=True)
    path = PICTURES / name
    page.screenshot(path=str(path), **options)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path
