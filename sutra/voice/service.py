"""Hearing and speaking for webhook functions: engine choice, budgets and usage in one place.

The engine: the OpenAI-compatible audio endpoints when ``SUTRA_SPEECH`` is ``openai``, or
``auto`` with a key or base URL configured (the organisation's ``openai_api_key`` /
``openai_base_url`` first, then ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``); else offline
(espeak-ng, whisper.cpp). ``speech_engine: open_ai`` in a call forces the service, as Glific's
does. Every call is checked against the budgets first and counted in usage with its seconds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from sutra.functions.llmcall import check_budget, spent
from sutra.functions.registry import FunctionCall, FunctionError
from sutra.llm.base import Usage
from sutra.voice import audio, offline
from sutra.voice.audio import AudioError
from sutra.voice.openai_audio import SpeechServiceError, audio_client
from sutra.voice.settings import VoiceSettings, voice_settings


@dataclass(frozen=True)
class Spoken:
    """An answer spoken: an OGG/Opus voice note and how long it plays."""

    data: bytes
    seconds: float
    provider: str


def _service(settings: dict[str, Any]) -> tuple[str | None, str | None]:
    key = str(settings.get("openai_api_key") or os.environ.get("OPENAI_API_KEY") or "").strip()
    base = str(settings.get("openai_base_url") or os.environ.get("OPENAI_BASE_URL") or "").strip()
    return key or None, base or None


def engine(settings: dict[str, Any], config: VoiceSettings, forced: str | None = None) -> str:
    """``openai`` or ``local`` for these organisation settings.

    >>> engine({}, VoiceSettings(speech="local"), forced="open_ai")
    'openai'
    """
    if forced and forced.strip().lower().replace("_", "") == "openai":
        return "openai"
    mode = str(settings.get("speech") or config.speech).strip().lower()
    if mode == "auto":
        key, base = _service(settings)
        return "openai" if key or base else "local"
    return "openai" if mode == "openai" else "local"


async def transcribe(
    call: FunctionCall,
    data: bytes,
    *,
    filename: str,
    mime: str,
    language: str | None,
    function: str,
    model: str | None = None,
    forced: str | None = None,
) -> str:
    """The words spoken in ``data``; Failure with the reason when it cannot be heard."""
    config = voice_settings()
    settings = await check_budget(call, function=function)
    chosen = engine(settings, config, forced)
    started = time.perf_counter()
    length = await audio.seconds(data, timeout=config.audio_timeout)
    try:
        if chosen == "openai":
            key, base = _service(settings)
            model = model or config.transcription_model
            text = await audio_client(key, base, config.audio_timeout).transcribe(
                data, filename=filename, mime=mime, model=model, language=language
            )
        else:
            model = config.whisper_model.name if config.whisper_model else "whisper.cpp"
            text = await offline.transcribe(
                data,
                model=config.whisper_model,
                command=config.whisper_command,
                language=language,
                timeout=config.audio_timeout,
            )
    except SpeechServiceError as exc:
        raise FunctionError(exc.reason, status=exc.status) from None
    except AudioError as exc:
        raise FunctionError(str(exc), status=503) from None
    await spent(call, _usage(chosen, model, started, length), function=function)
    return text


async def speak(
    call: FunctionCall,
    text: str,
    *,
    language: str,
    function: str,
    voice: str | None = None,
    model: str | None = None,
    forced: str | None = None,
) -> Spoken:
    """``text`` spoken in ``language`` as a WhatsApp voice note (OGG/Opus)."""
    config = voice_settings()
    if len(text) > config.speech_max_chars:
        # Cut where a sentence ends when one does, not mid-word: it is read aloud.
        cut = text[: config.speech_max_chars]
        text = cut[: cut.rfind(". ") + 1] or cut
    settings = await check_budget(call, function=function)
    chosen = engine(settings, config, forced)
    started = time.perf_counter()
    try:
        if chosen == "openai":
            key, base = _service(settings)
            model = model or config.speech_model
            wav = await audio_client(key, base, config.audio_timeout).speak(
                text,
                model=model,
                voice=voice or config.speech_voice,
                # Only OpenAI's gpt-4o speech models take instructions; tts-1 refuses them.
                instructions=f"Speak in the language of ISO code {language}."
                if language and model.startswith("gpt-4o")
                else None,
            )
        else:
            model = offline.ESPEAK
            wav = await offline.speak(text, language=language, timeout=config.audio_timeout)
        length = await audio.seconds(wav, timeout=config.audio_timeout)
        ogg = await audio.to_ogg_opus(wav, timeout=config.audio_timeout)
    except SpeechServiceError as exc:
        raise FunctionError(exc.reason, status=exc.status) from None
    except AudioError as exc:
        raise FunctionError(str(exc), status=503) from None
    await spent(call, _usage(chosen, model, started, length), function=function)
    return Spoken(ogg, length, chosen)


def _usage(provider: str, model: str, started: float, seconds: float) -> Usage:
    return Usage(
        provider=provider,
        model=model,
        prompt_tokens=0,
        completion_tokens=0,
        latency_ms=(time.perf_counter() - started) * 1000,
        audio_seconds=seconds,
    )
