"""The app with evaluations, on SQLite, its LLM the loopback OpenAI stub through the real SDK.

The stub answers a target's question from a table of planned answers (by question text), and
plays the judge with its own bag-of-words similarity, so that scores move the way a real
judge's would: a paraphrase high, a wrong answer low.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sutra.config import ServerSettings, get_settings
from sutra.evals.judge import RUBRIC
from sutra.evals.settings import eval_settings
from sutra.testing.accounts import sign_in
from sutra.testing.openai_server import OpenAIStubServer, Reply, embed
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.conftest import STUB_API_KEY

TOKEN = "evals-api-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def similarity(a: str, b: str) -> float:
    x, y = embed(a), embed(b)
    return max(0.0, sum(p * q for p, q in zip(x, y, strict=True)))


def _between(text: str, tag: str) -> str:
    start = text.index(f"<{tag}>\n") + len(tag) + 3
    return text[start : text.index(f"\n</{tag}>")]


@dataclass
class Bot:
    """What the stub answers: a target's answer per question, the judge by word overlap."""

    answers: dict[str, str] = field(default_factory=dict)

    def __call__(self, body: dict[str, Any]) -> Reply | None:
        messages = body["messages"]
        if messages[0]["role"] == "system" and messages[0]["content"] == RUBRIC:
            user = messages[-1]["content"]
            expected, answer = _between(user, "expected"), _between(user, "answer")
            score = round(similarity(expected, answer), 3)
            return Reply.of_json({"reasoning": f"overlap {score}", "score": score})
        question = messages[-1]["content"]
        return Reply(self.answers[question]) if question in self.answers else None


@pytest.fixture
def llm_env(
    clean_env: None, stub: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bot]:
    """OPENAI_* point the SDK at the stub (as an NGO's would at OpenAI); a priced judge model."""
    monkeypatch.setenv("OPENAI_API_KEY", STUB_API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("SUTRA_EVAL_LEASE_SECONDS", "1")
    get_settings.cache_clear()
    eval_settings.cache_clear()
    bot = Bot()
    stub.respond(bot)
    yield bot
    eval_settings.cache_clear()


@dataclass
class Evals:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.sutra
        return state

    async def upload(
        self, csv: str, name: str = "faq", filename: str = "faq.csv"
    ) -> httpx.Response:
        return await self.http.post(
            "/api/v1/evals/golden-sets",
            params={"name": name, "filename": filename},
            content=csv.encode(),
            headers={**HEADERS, "Content-Type": "text/csv"},
        )

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(
            method, f"/api/v1/evals{path}", headers=HEADERS, **kwargs
        )
        assert response.status_code < 300, response.text
        return response.json()


@asynccontextmanager
async def open_evals(db: Path) -> AsyncIterator[Evals]:
    app = create_app(f"sqlite:///{db}", settings=ServerSettings(sutra_api_token=TOKEN))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://evals") as http,
    ):
        await sign_in(http, app.state.sutra.repo.sessions)
        yield Evals(app, http)


@pytest.fixture
async def evals(tmp_path: Path, llm_env: Bot) -> AsyncIterator[Evals]:
    async with open_evals(tmp_path / "evals.db") as opened:
        yield opened


def csv_of(rows: list[tuple[str, ...]], header: str = "question,answer,category") -> str:
    lines = [header]
    for row in rows:
        lines.append(",".join(json.dumps(cell) if "," in cell else cell for cell in row))
    return "\n".join(lines) + "\n"
