"""Fixtures the app and browser tests share (tests/web, tests/editor)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sutra.config import get_settings
from sutra.testing.live import CHROMIUM, CHROMIUM_ARGS
from sutra.testing.openai_server import OpenAIStubServer
from tests.support import databases, fresh_database

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets its own PostgreSQL database, before any test module
    reads ``SUTRA_TEST_POSTGRES_URL``: the tests reset their schema freely."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("SUTRA_TEST_POSTGRES_URL", "").strip()
    if worker and url:
        from sutra.testing.postgres import worker_database

        os.environ["SUTRA_TEST_POSTGRES_URL"] = worker_database(url, worker)


# The stub refuses any other key, so a passing test also shows which key the app sent.
STUB_API_KEY = "sk-app-test-0123456789"


@pytest.fixture(scope="module")
def stub_server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=STUB_API_KEY) as server:
        yield server


@pytest.fixture
def stub(stub_server: OpenAIStubServer) -> OpenAIStubServer:
    stub_server.reset()
    return stub_server


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting from this machine's environment leaks into the app under test."""
    for key in list(os.environ):
        if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_", "WHATSAPP_", "GUPSHUP_")):
            monkeypatch.delenv(key)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(params=databases())
def each_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL; the test runs once on SQLite, once on PostgreSQL (when given)."""
    return fresh_database(request.param, tmp_path)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (imported only by browser tests)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
