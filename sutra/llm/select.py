"""Which LLM provider a call uses.

``SUTRA_LLM`` picks it: ``openai``, ``local`` (the embedded model) or ``auto`` (the default:
OpenAI when a key is configured, else local). An organisation's settings may override the mode
(``llm``) and bring its own key (``openai_api_key``, ``openai_base_url``); with its own key,
``auto`` means OpenAI for that organisation even when the platform has none. An organisation
other than the default one never spends the platform's key (``OPENAI_API_KEY``): its settings
carry ``platform_key: False`` (see :func:`sutra.functions.llmcall.org_settings`), and without a
key of its own ``auto`` means the local model and ``openai`` is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from sutra.config import Settings, get_settings
from sutra.llm.base import LLMError, LLMProvider
from sutra.llm.local_provider import LocalConfig, LocalProvider
from sutra.llm.openai_provider import OpenAIProvider

MODES = ("openai", "local", "auto")


def provider_mode(settings: Mapping[str, Any] | None = None, config: Settings | None = None) -> str:
    """``openai`` or ``local``: what ``auto`` (or the organisation's choice) comes to."""
    settings = settings or {}
    config = config or get_settings()
    mode = str(settings.get("llm") or config.llm).strip().lower()
    if mode not in MODES:
        raise LLMError(f"unknown LLM provider {mode!r}: use one of {', '.join(MODES)}")
    if mode == "auto":
        shared = settings.get("platform_key", True)
        platform = os.environ.get("OPENAI_API_KEY", "") if shared else ""
        has_key = bool(str(settings.get("openai_api_key") or "").strip() or platform.strip())
        return "openai" if has_key else "local"
    return mode


def get_provider(
    settings: Mapping[str, Any] | None = None, config: Settings | None = None
) -> LLMProvider:
    """The provider for these (organisation) settings, shared by every call that uses them."""
    settings = settings or {}
    config = config or get_settings()
    if provider_mode(settings, config) == "local":
        return _local(LocalConfig.from_settings(config))
    if not settings.get("openai_api_key") and not settings.get("platform_key", True):
        raise LLMError("this organisation has no OpenAI key: set one on its settings page")
    return _openai(
        settings.get("openai_api_key") or None,
        settings.get("openai_base_url") or None,
        config.openai_timeout,
        config.openai_max_retries,
    )


# Cached per key so that each organisation's calls share one connection pool.
@cache
def _openai(
    api_key: str | None, base_url: str | None, timeout: float, max_retries: int
) -> OpenAIProvider:
    return OpenAIProvider(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
    )


# The models themselves are shared process-wide (see local_provider.engine_for); this only
# saves rebuilding the provider object per call.
@cache
def _local(config: LocalConfig) -> LocalProvider:
    return LocalProvider(config)
