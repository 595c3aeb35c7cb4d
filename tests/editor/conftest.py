"""Shared set-up for the flow editor's tests: the real app on a throwaway SQLite file, the
OpenAI stub as the model, a signed-in client, and flows shaped the way the editor saves them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from sutra.config import ServerSettings
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.testing.accounts import sign_in
from sutra.testing.openai_server import OpenAIStubServer
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.conftest import STUB_API_KEY
from tests.support import eventually

API_KEY = STUB_API_KEY
T = TypeVar("T")


@dataclass
class Site:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.sutra
        return state

    def stranger(self) -> httpx.AsyncClient:
        """A client of the same app that has not signed in."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://t")

    async def create_flow(self, name: str, keywords: str = "") -> str:
        response = await self.http.post("/flows", json={"name": name, "keywords": keywords})
        assert response.status_code == 201, response.text
        flow_uuid: str = response.json()["uuid"]
        return flow_uuid

    async def save(self, flow_uuid: str, definition: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/flow-editor/revisions/{flow_uuid}/", json=definition)

    async def revisions(self, flow_uuid: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"/flow-editor/revisions/{flow_uuid}/?version=14.3")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["results"]
        return items

    async def open_latest(self, flow_uuid: str) -> dict[str, Any]:
        """What the editor loads: the revision with the newest created_on."""
        newest = max(await self.revisions(flow_uuid), key=lambda r: r["created_on"])
        response = await self.http.get(
            f"/flow-editor/revisions/{flow_uuid}/{newest['id']}/?version=14.3"
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def start(self, contact: str, flow_uuid: str) -> None:
        response = await self.http.post(
            "/simulator/api/start", json={"flow_uuid": flow_uuid, "contact": contact}
        )
        assert response.status_code == 202, response.text

    async def send(self, contact: str, text: str) -> None:
        response = await self.http.post(
            "/simulator/api/messages", json={"contact": contact, "text": text}
        )
        assert response.status_code == 202, response.text

    async def bot_texts(self, contact: str) -> list[str]:
        response = await self.http.get("/simulator/api/messages", params={"contact": contact})
        assert response.status_code == 200, response.text
        return [m["text"] for m in response.json()["messages"] if m["direction"] == "out"]

    async def wait_for_texts(self, contact: str, count: int) -> list[str]:
        async def enough() -> list[str] | None:
            texts = await self.bot_texts(contact)
            return texts if len(texts) >= count else None

        return await eventually(enough)


@asynccontextmanager
async def open_site(
    database: Path,
    stub: OpenAIStubServer,
    settings: ServerSettings | None = None,
    *,
    signed_in: bool = True,
) -> AsyncIterator[Site]:
    llm = OpenAIProvider(api_key=API_KEY, base_url=stub.base_url)
    app = create_app(
        f"sqlite:///{database}",
        settings=settings or ServerSettings(),
        services=Services(llm=llm),
        sweep_every=0.2,
    )
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            if signed_in:
                await sign_in(http, app.state.sutra.repo.sessions)
            yield Site(app, http)
    finally:
        # Closed on this loop: left to the garbage collector it would close on a dead one.
        await llm.aclose()


@pytest.fixture
async def site(tmp_path: Path, stub: OpenAIStubServer, clean_env: None) -> AsyncIterator[Site]:
    async with open_site(tmp_path / "sutra.db", stub) as opened:
        yield opened


def uid() -> str:
    return str(uuid.uuid4())


def drawn_gpt_flow(
    flow_uuid: str, name: str, *, greeting: str = "Ask me anything."
) -> dict[str, Any]:
    """A flow as the editor (1.43) saves it: greeting, wait, parse_via_chat_gpt, answer.

    Spec 14.3; the webhook node routed on ``@webhook.status`` 200-299 like the editor writes it.
    """
    greet, wait, call, answer = uid(), uid(), uid(), uid()
    success, failure = uid(), uid()
    to_answer, to_nowhere = uid(), uid()
    all_responses, to_call = uid(), uid()
    body = '{\n "question_text": "@results.question",\n "gpt_model": "gpt-4o",\n "prompt": ""\n}'
    return {
        "uuid": flow_uuid,
        "name": name,
        "spec_version": "14.3.0",
        "language": "base",
        "type": "messaging",
        "revision": 1,
        "expire_after_minutes": 10080,
        "localization": {},
        "nodes": [
            {
                "uuid": greet,
                "actions": [
                    {
                        "uuid": uid(),
                        "type": "send_msg",
                        "text": greeting,
                        "attachments": [],
                        "quick_replies": [],
                        "labels": [],
                    }
                ],
                "exits": [{"uuid": uid(), "destination_uuid": wait}],
            },
            {
                "uuid": wait,
                "actions": [],
                "router": {
                    "type": "switch",
                    "default_category_uuid": all_responses,
                    "cases": [],
                    "categories": [
                        {"uuid": all_responses, "name": "All Responses", "exit_uuid": to_call}
                    ],
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": "question",
                },
                "exits": [{"uuid": to_call, "destination_uuid": call}],
            },
            {
                "uuid": call,
                "actions": [
                    {
                        "uuid": uid(),
                        "type": "call_webhook",
                        "method": "FUNCTION",
                        "url": "parse_via_chat_gpt",
                        "headers": {"Accept": "application/json"},
                        "body": body,
                        "result_name": "gpt_response",
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
                            "category_uuid": success,
                        }
                    ],
                    "categories": [
                        {"uuid": success, "name": "Success", "exit_uuid": to_answer},
                        {"uuid": failure, "name": "Failure", "exit_uuid": to_nowhere},
                    ],
                    "default_category_uuid": failure,
                },
                "exits": [
                    {"uuid": to_answer, "destination_uuid": answer},
                    {"uuid": to_nowhere, "destination_uuid": None},
                ],
            },
            {
                "uuid": answer,
                "actions": [
                    {
                        "uuid": uid(),
                        "type": "send_msg",
                        "text": "GPT says: @results.gpt_response.parsed_msg",
                        "attachments": [],
                        "quick_replies": [],
                        "labels": [],
                    }
                ],
                "exits": [{"uuid": uid(), "destination_uuid": None}],
            },
        ],
        "_ui": {
            "nodes": {
                greet: {"position": {"left": 0, "top": 0}, "type": "execute_actions"},
                wait: {"position": {"left": 0, "top": 180}, "type": "wait_for_response"},
                call: {"position": {"left": 0, "top": 360}, "type": "split_by_webhook"},
                answer: {"position": {"left": 0, "top": 560}, "type": "execute_actions"},
            },
            "stickies": {},
            "languages": [],
        },
    }


def send_only_flow(flow_uuid: str, name: str, text: str) -> dict[str, Any]:
    node = uid()
    return {
        "uuid": flow_uuid,
        "name": name,
        "spec_version": "14.3.0",
        "language": "base",
        "type": "messaging",
        "revision": 1,
        "expire_after_minutes": 10080,
        "localization": {},
        "nodes": [
            {
                "uuid": node,
                "actions": [{"uuid": uid(), "type": "send_msg", "text": text}],
                "exits": [{"uuid": uid(), "destination_uuid": None}],
            }
        ],
        "_ui": {"nodes": {node: {"position": {"left": 0, "top": 0}, "type": "execute_actions"}}},
    }
