"""Speech to text and text to speech through the OpenAI-compatible audio endpoints.

``POST /audio/transcriptions`` (a multipart upload) and ``POST /audio/speech`` (JSON in, audio
bytes out), with the official SDK: OpenAI, or a local server speaking the same protocol
(whisper.cpp's server, faster-whisper, vLLM, Kokoro) at the configured base URL.
"""

from __future__ import annotations

import asyncio
from functools import cache

import openai
from openai import AsyncOpenAI

from sutra.http import async_client
from sutra.llm.openai_provider import _KEY_LIKE, _status_reason

PROVIDER = "openai"


class SpeechServiceError(Exception):
    def __init__(self, reason: str, *, status: int = 502) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class OpenAIAudio:
    def __init__(
        self, *, api_key: str | None, base_url: str | None, timeout: float, max_retries: int = 2
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._clients: dict[asyncio.AbstractEventLoop, AsyncOpenAI] = {}

    def _client(self) -> AsyncOpenAI:
        # Pooled connections belong to the loop that opened them (see OpenAIProvider).
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            try:
                client = AsyncOpenAI(
                    api_key=self._api_key or "no-key",
                    base_url=self._base_url,
                    timeout=self.timeout,
                    max_retries=self.max_retries,
                    http_client=async_client(timeout=self.timeout, follow_redirects=True),
                )
            except openai.OpenAIError as exc:
                raise SpeechServiceError(f"the speech service is not configured: {exc}") from exc
            self._clients = {loop: client}
        return client

    async def transcribe(
        self, audio: bytes, *, filename: str, mime: str, model: str, language: str | None
    ) -> str:
        client = self._client()
        try:
            result = await client.audio.transcriptions.create(
                model=model,
                file=(filename, audio, mime),
                response_format="json",
                **({"language": language} if language else {}),
            )
        except openai.OpenAIError as exc:
            raise _reason(exc, "transcription", self.timeout) from exc
        return (result.text or "").strip()

    async def speak(self, text: str, *, model: str, voice: str, instructions: str | None) -> bytes:
        """The spoken text as WAV (converted to a voice note by the caller)."""
        client = self._client()
        extra = {"instructions": instructions} if instructions else {}
        try:
            response = await client.audio.speech.create(
                model=model, voice=voice, input=text, response_format="wav", **extra
            )
        except openai.OpenAIError as exc:
            raise _reason(exc, "speech", self.timeout) from exc
        return response.read()


def _reason(exc: openai.OpenAIError, what: str, timeout: float) -> SpeechServiceError:
    if isinstance(exc, openai.APIStatusError):
        message = _status_reason(exc)
        return SpeechServiceError(
            _KEY_LIKE.sub("sk-***", f"the {what} service answered {exc.status_code}: {message}"),
            status=exc.status_code if 400 <= exc.status_code < 600 else 502,
        )
    if isinstance(exc, openai.APITimeoutError):
        return SpeechServiceError(f"the {what} service did not answer within {timeout:g} s", 504)
    if isinstance(exc, openai.APIConnectionError):
        return SpeechServiceError(f"could not connect to the {what} service")
    return SpeechServiceError(_KEY_LIKE.sub("sk-***", f"the {what} call failed: {exc}"))


@cache
def audio_client(api_key: str | None, base_url: str | None, timeout: float) -> OpenAIAudio:
    """One per configuration, so that calls share a connection pool."""
    return OpenAIAudio(api_key=api_key, base_url=base_url, timeout=timeout)
