"""Glific's voice functions, known by name so that flows using them import and route.

Speech to text, text to speech and the voice file search are a later part of the assistants
work; until then each call takes Failure with a reason that says so, never a crash or an
"unknown function".
"""

from __future__ import annotations

from typing import Any

from sutra.functions.registry import FunctionCall, FunctionError, function


def _not_yet(name: str) -> FunctionError:
    return FunctionError(f"{name} is not available yet in Sutra (voice comes later)", status=501)


@function(
    "speech_to_text",
    body={"speech": "", "provider": "", "model": "", "language": ""},
    example={"success": True, "message": "the words spoken"},
)
async def speech_to_text(call: FunctionCall) -> dict[str, Any]:
    """Transcribe the audio at ``speech`` (not available yet)."""
    raise _not_yet("speech_to_text")


@function(
    "text_to_speech",
    body={"text": "", "provider": "", "model": "", "voice": "", "language": ""},
    example={"success": True, "message": "https://…/audio.ogg"},
)
async def text_to_speech(call: FunctionCall) -> dict[str, Any]:
    """Speak ``text`` as an audio file (not available yet)."""
    raise _not_yet("text_to_speech")


@function(
    "voice-filesearch-gpt",
    body={"speech": "", "assistant_id": "", "source_language": "", "target_language": ""},
    example={"success": True, "translated_text": "…", "media_url": "https://…/audio.ogg"},
)
async def voice_filesearch_gpt(call: FunctionCall) -> dict[str, Any]:
    """Answer a voice note from an assistant's documents, in words and speech (not yet)."""
    raise _not_yet("voice-filesearch-gpt")
