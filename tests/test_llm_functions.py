"""The LLM functions' edges that need no server: image download limits, budget settings,
memory without a database. (Through the runtime: tests/e2e/test_e2e_llm.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sutra.config import LLMPrice
from sutra.functions.registry import FunctionCall, FunctionError, get_function
from sutra.functions.services import Services
from sutra.functions.vision import fetch_image
from sutra.llm.base import Completion, Usage
from sutra.llm.usage import Limits, cost_of

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


class Recorder:
    """An LLM provider that answers at once and remembers what it was asked."""

    name = "recorder"

    def __init__(self) -> None:
        self.asked: list[list[dict[str, Any]]] = []

    async def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
        self.asked.append(messages)
        return Completion("ok", Usage("recorder", kwargs["model"], 1, 1, 0.1), "stop")


def streaming(body: bytes, *, content_type: str = "image/png") -> httpx.AsyncClient:
    """A client whose server answers with ``body`` in small chunks and no Content-Length."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64):
            yield body[start : start + 64]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=chunks())

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_an_image_without_a_length_is_cut_off_at_the_limit() -> None:
    async with streaming(PNG + bytes(10_000)) as client:
        with pytest.raises(FunctionError, match="larger than 1,000 bytes") as caught:
            await fetch_image("https://example.org/a", client=client, max_bytes=1000, timeout=5)

    assert caught.value.status == 413


async def test_an_image_within_the_limit_is_returned_with_its_type() -> None:
    async with streaming(PNG, content_type="application/octet-stream") as client:
        data, media_type = await fetch_image(
            "https://example.org/a", client=client, max_bytes=1000, timeout=5
        )

    assert (data, media_type) == (PNG, "image/png")


async def test_only_http_urls_are_fetched() -> None:
    with pytest.raises(FunctionError, match="http"):
        await fetch_image("file:///etc/passwd", client=None, max_bytes=1000, timeout=5)


async def test_vision_needs_a_url() -> None:
    spec = get_function("parse_via_gpt_vision")
    assert spec is not None
    assert spec.body_template["url"] == "@results.image"

    with pytest.raises(FunctionError, match="url is empty"):
        await spec.impl(FunctionCall(fields={"prompt": "What?"}, services=Services()))


async def test_memory_without_a_database_is_a_clear_failure() -> None:
    spec = get_function("parse_via_chat_gpt")
    assert spec is not None
    llm = Recorder()
    fields = {"question_text": "Hi", "memory": "true", "organization_id": 1, "contact_id": 3}

    with pytest.raises(FunctionError, match="memory needs a database"):
        await spec.impl(FunctionCall(fields=fields, services=Services(llm=llm)))

    assert llm.asked == []


async def test_without_a_database_calls_go_through_unrecorded() -> None:
    spec = get_function("parse_via_chat_gpt")
    assert spec is not None
    call = FunctionCall(fields={"question_text": "Hi"}, services=Services(llm=Recorder()))

    assert await spec.impl(call) == {"success": True, "parsed_msg": "ok"}
    assert [u.provider for u in call.usage] == ["recorder"]


def test_an_organisation_can_set_or_lift_the_platform_limits() -> None:
    assert Limits.of({}, monthly=5, daily=100) == Limits(5.0, 100)
    assert Limits.of({"llm_monthly_budget": 20}, monthly=5, daily=None) == Limits(20.0, None)
    assert Limits.of({"llm_contact_daily_tokens": None}, monthly=None, daily=100) == Limits()


def test_cost_uses_the_longest_matching_price() -> None:
    prices = {
        "gpt-4o": LLMPrice(prompt=2.5, completion=10),
        "gpt-4o-mini": LLMPrice(prompt=0.15, completion=0.6),
    }
    mini = Usage("openai", "gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000, 1.0)
    local = Usage("local", "SmolLM2-135M-Instruct.Q4_1", 1_000_000, 1_000_000, 1.0)

    assert cost_of(mini, prices) == pytest.approx(0.75)
    assert cost_of(local, prices) == 0.0
