"""What a webhook function may use: the LLM provider, an HTTP client, the database, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from sutra.llm.base import LLMProvider
    from sutra.runtime.media import MediaStore


@dataclass
class Services:
    # Set: every LLM call uses this provider. None: chosen per call (sutra.llm.select).
    llm: LLMProvider | None = None
    http: httpx.AsyncClient | None = None
    # Overrides of the organisation's settings (its stored settings are read through ``db``).
    settings: dict[str, Any] = field(default_factory=dict)
    # LLM usage, budgets and conversation memory live here; without it they are off.
    db: async_sessionmaker[AsyncSession] | None = None
    # The runner stores each call's usage with the step that made it (one transaction);
    # a function called on its own stores it at once.
    defer_usage: bool = False
    # Where voice notes are read and spoken answers kept (served at /media); None: the
    # folder and public URL of the server's settings.
    media: MediaStore | None = None
