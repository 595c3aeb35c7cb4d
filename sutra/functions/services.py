"""What a webhook function may use: the LLM provider, an HTTP client, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from sutra.llm.base import LLMProvider


@dataclass
class Services:
    llm: LLMProvider | None = None
    http: httpx.AsyncClient | None = None
    settings: dict[str, Any] = field(default_factory=dict)
