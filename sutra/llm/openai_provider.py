"""OpenAI Chat Completions (or any server speaking its wire format) behind :class:`LLMProvider`.

Configuration follows the SDK: ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``, unless the constructor
is given ``api_key`` / ``base_url``. Retries on 429, 5xx, timeouts and connection errors are the
SDK's own (exponential backoff, honouring ``Retry-After``), so this module never loops itself.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from sutra.http import async_client
from sutra.llm.base import Completion, LLMError, Usage

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_RETRIES = 2

# Error bodies from OpenAI show a masked key ("sk-abc***wxyz"); other compatible servers may echo
# it whole. Either way a reason is shown to flow authors and stored in logs, so key-like tokens go.
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_*\-]{3,}")


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> AsyncOpenAI:
        # One client per provider shares its connection pool across every concurrent call. Pooled
        # connections belong to the event loop that opened them, so a provider that outlives a
        # loop (a cached provider used by successive asyncio.run calls) starts a fresh client.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            try:
                self._client = AsyncOpenAI(
                    api_key=self._api_key,
                    base_url=self._base_url,
                    timeout=self.timeout,
                    max_retries=self.max_retries,
                    # A quarter of the CPU per call of the SDK's default httpx pool
                    # (sutra/http.py has the figures).
                    http_client=async_client(timeout=self.timeout, follow_redirects=True),
                )
            except openai.OpenAIError as exc:
                raise LLMError("the OpenAI API key is not configured (set OPENAI_API_KEY)") from exc
            self._client_loop = loop
        return self._client

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        client = self._get_client()
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "top_p": 1,
            "frequency_penalty": 0,
            "presence_penalty": 0,
        }
        if response_format is not None:
            body["response_format"] = response_format
        if max_tokens is not None:
            # ``max_tokens`` is deprecated by OpenAI and rejected by its reasoning models.
            body["max_completion_tokens"] = max_tokens
        started = time.perf_counter()
        try:
            # The SDK's own request path (auth, retries, errors, typed answer) without
            # ``chat.completions.create``'s walk over its TypedDicts: callers already speak the
            # wire format, and that walk was a third of the SDK's CPU per call (bench/llm.py).
            response = await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
        except openai.APIStatusError as exc:
            raise LLMError(self._redact(_status_reason(exc)), status=exc.status_code) from exc
        except openai.APITimeoutError as exc:
            raise LLMError(
                f"the model did not answer within {self.timeout:g} s ({self._attempts()})"
            ) from exc
        except openai.APIConnectionError as exc:
            # The host only: a base URL may carry credentials in its user-info part.
            raise LLMError(
                f"could not connect to the LLM API at {client.base_url.host} ({self._attempts()})"
            ) from exc
        except openai.OpenAIError as exc:
            raise LLMError(self._redact(f"the LLM API call failed: {exc}")) from exc
        latency_ms = (time.perf_counter() - started) * 1000

        if not response.choices:
            raise LLMError("empty choices from the model")
        choice = response.choices[0]
        if choice.message.refusal:
            raise LLMError(choice.message.refusal)
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            usage=Usage(
                provider=self.name,
                model=response.model or model,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                latency_ms=latency_ms,
            ),
            finish_reason=choice.finish_reason,
        )

    async def aclose(self) -> None:
        """Close the pooled connections (optional: a process may simply exit)."""
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._client_loop = None

    def _attempts(self) -> str:
        attempts = self.max_retries + 1
        return "1 attempt" if attempts == 1 else f"{attempts} attempts"

    def _redact(self, reason: str) -> str:
        key = self._client.api_key if self._client is not None else self._api_key
        if key:
            reason = reason.replace(key, "***")
        return _KEY_LIKE.sub("sk-***", reason)


def _status_reason(exc: openai.APIStatusError) -> str:
    # The SDK hands over the ``error`` object of the body; its ``message`` is written for humans.
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return message
    return f"the LLM API answered HTTP {exc.status_code}"
