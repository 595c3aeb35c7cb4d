"""Settings of the voice steps (``SUTRA_`` variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUTRA_", extra="ignore")

    # auto: the OpenAI-compatible audio endpoints when a key or base URL is configured (the
    # platform's or the organisation's), else offline; openai or local force one.
    speech: Literal["auto", "openai", "local"] = "auto"
    transcription_model: str = "whisper-1"
    speech_model: str = "gpt-4o-mini-tts"
    # OpenAI's voices (alloy, ash, coral, nova, …); Glific's Gemini voice names are not theirs.
    speech_voice: str = "alloy"
    # Offline speech to text: a whisper.cpp model file (ggml-*.bin) and its command-line program.
    # No model ships with Sutra; without one, offline transcription fails with a reason.
    whisper_model: Path | None = None
    whisper_command: str = "whisper-cli"
    # A voice note or an answer to speak larger/longer than this is refused: WhatsApp's audio
    # limit is 16 MB, and a minute of speech is plenty for an answer.
    audio_max_bytes: int = Field(default=16 * 2**20, ge=1)
    speech_max_chars: int = Field(default=4096, ge=1)
    # One transcription, synthesis or conversion, end to end.
    audio_timeout: float = Field(default=120.0, gt=0)


def voice_settings() -> VoiceSettings:
    # Read each time (microseconds): tests and operators change the environment.
    return VoiceSettings()
