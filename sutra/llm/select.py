"""Which LLM provider a call uses: the one seam where other providers will plug in."""

from __future__ import annotations

from functools import cache
from typing import Any

from sutra.llm.base import LLMProvider
from sutra.llm.openai_provider import OpenAIProvider


def get_provider(settings: dict[str, Any] | None = None) -> LLMProvider:
    """The provider for these (organisation) settings, shared by every call that uses them.

    ``openai_api_key`` / ``openai_base_url`` in ``settings`` override the platform-wide
    ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``, so an organisation can bring its own key.
    """
    settings = settings or {}
    return _openai(settings.get("openai_api_key") or None, settings.get("openai_base_url") or None)


# Cached per key so that each organisation's calls share one connection pool.
@cache
def _openai(api_key: str | None, base_url: str | None) -> OpenAIProvider:
    return OpenAIProvider(api_key=api_key, base_url=base_url)
