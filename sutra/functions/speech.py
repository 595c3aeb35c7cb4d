"""Glific's voice functions: speech to text, text to speech, and the voice file search.

Voice notes are heard and answers spoken through :mod:`sutra.voice` (the OpenAI-compatible
audio endpoints, or offline espeak-ng and whisper.cpp); spoken answers are OGG/Opus files kept
in the media folder and served by Sutra at ``/media/…``, a URL a flow sends as a WhatsApp audio
message. Glific's ``provider``/``model`` name Google's Gemini voices; Sutra's engine is the
organisation's (``speech_engine``/``provider`` ``open_ai`` forces the OpenAI-compatible one).
"""

from __future__ import annotations

from typing import Any

from sutra.engine.languages import normalize_language
from sutra.functions.filesearch import answer_from_documents, given
from sutra.functions.llmcall import Caller
from sutra.functions.registry import FunctionCall, FunctionError, function
from sutra.functions.translate import same_language, translate_text

# OpenAI's voices; Glific's default "Kore" (a Gemini voice) and others fall back to the default.
OPENAI_VOICES = frozenset(
    ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"]
)


def _forced(call: FunctionCall) -> str | None:
    return given(call.fields.get("speech_engine")) or given(call.fields.get("provider")) or None


def _model(call: FunctionCall) -> str | None:
    """A model only when the provider is OpenAI's: Glific flows name Gemini models."""
    forced = (_forced(call) or "").lower().replace("_", "")
    return given(call.fields.get("model")) or None if forced == "openai" else None


def _language(value: Any, default: str = "") -> str:
    """An ISO 639-1 code for a name or code a flow passes; unresolved variables are none."""
    text = given(value)
    return normalize_language(text) if text else default


async def hear(call: FunctionCall, *, function: str, language: str) -> str:
    """The words of the voice note ``speech`` (or the contact's last one)."""
    from sutra.voice import service
    from sutra.voice.settings import voice_settings
    from sutra.voice.source import audio_for

    config = voice_settings()
    audio = await audio_for(
        call,
        call.fields.get("speech"),
        max_bytes=config.audio_max_bytes,
        timeout=config.audio_timeout,
    )
    text = await service.transcribe(
        call,
        audio.data,
        filename=audio.filename,
        mime=audio.mime,
        language=language or None,
        function=function,
        model=_model(call),
        forced=_forced(call),
    )
    if not text:
        raise FunctionError("nothing could be heard in the voice note", status=422)
    return text


async def say(call: FunctionCall, text: str, *, function: str, language: str) -> str:
    """``text`` spoken in ``language``; the URL of the voice note."""
    from sutra.voice import service
    from sutra.voice.audio import OGG_OPUS
    from sutra.voice.source import media_of

    voice = given(call.fields.get("voice")).lower()
    spoken = await service.speak(
        call,
        text,
        language=language,
        function=function,
        voice=voice if voice in OPENAI_VOICES else None,
        model=_model(call),
        forced=_forced(call),
    )
    return media_of(call).save(spoken.data, OGG_OPUS)


async def _contact_language(call: FunctionCall) -> str:
    """The contact's language (as stored), for the old functions that took it from them."""
    from sqlalchemy import select

    from sutra.store import models as m

    caller = Caller.of(call)
    db = call.services.db
    if db is None or caller.contact_id is None:
        return ""
    async with db() as session:
        language = await session.scalar(
            select(m.Contact.language).where(m.Contact.id == caller.contact_id)
        )
    return _language(language)


@function(
    "speech_to_text",
    body={"speech": "@results.voice_note.input", "language": "english", "output_language": ""},
    example={"success": True, "message": "How is malaria spread?"},
)
async def speech_to_text(call: FunctionCall) -> dict[str, Any]:
    """Transcribe the voice note at ``speech`` (else the contact's last one); with
    ``output_language``, translated into it."""
    language = _language(call.fields.get("language"))
    text = await hear(call, function="speech_to_text", language=language)
    target = given(call.fields.get("output_language"))
    if target and not same_language(language, target):
        text = await translate_text(
            call, text, source=language, target=target, function="speech_to_text"
        )
    return {"success": True, "message": text}


@function(
    "text_to_speech",
    body={"text": "", "language": "english", "voice": ""},
    example={"success": True, "message": "https://sutra.example.org/media/…ogg"},
)
async def text_to_speech(call: FunctionCall) -> dict[str, Any]:
    """Speak ``text`` as an OGG/Opus voice note; ``message`` is its URL."""
    text = given(call.fields.get("text"))
    if not text:
        raise FunctionError("text is empty", status=400)
    language = _language(call.fields.get("language"), "en")
    url = await say(call, text, function="text_to_speech", language=language)
    return {"success": True, "message": url}


@function(
    "voice-filesearch-gpt",
    body={
        "speech": "@results.voice_note.input",
        "assistant_id": "",
        "source_language": "english",
        "target_language": "@contact.language",
        "remove_citation": True,
    },
    example={
        "success": True,
        "translated_text": "Malaria spreads through the bite of infected mosquitoes.",
        "media_url": "https://sutra.example.org/media/…ogg",
        "thread_id": "asst_…:thread-…",
    },
)
async def voice_filesearch_gpt(call: FunctionCall) -> dict[str, Any]:
    """Answer a voice note from an assistant's documents, in words and speech.

    The note is heard in ``source_language``, answered by assistant ``assistant_id``, the answer
    translated into ``target_language`` when that differs, and spoken in it.
    """
    name = "voice-filesearch-gpt"
    source = _language(call.fields.get("source_language"), "en")
    target = _language(call.fields.get("target_language")) or source
    question = await hear(call, function=name, language=source)
    answer = await answer_from_documents(call, question, function=name)
    text = await translate_text(
        call, answer["message"], source=source, target=target, function=name
    )
    url = await say(call, text, function=name, language=target)
    return {
        "success": True,
        "question": question,
        "message": answer["message"],
        "translated_text": text,
        "media_url": url,
        "thread_id": answer["thread_id"],
        "assistant_id": answer["assistant_id"],
    }


@function(
    "speech_to_text_with_bhasini",
    body={"speech": "@results.voice_note.input", "contact": "@contact"},
    example={"success": True, "asr_response_text": "How is malaria spread?"},
)
async def speech_to_text_with_bhasini(call: FunctionCall) -> dict[str, Any]:
    """Glific's former Bhashini speech to text: ``speech_to_text`` in the contact's language,
    answering ``asr_response_text``."""
    language = await _contact_language(call)
    text = await hear(call, function="speech_to_text_with_bhasini", language=language)
    return {"success": True, "asr_response_text": text, "message": text}


@function(
    "nmt_tts_with_bhasini",
    body={"text": "", "source_language": "english", "target_language": "hindi"},
    example={
        "success": True,
        "translated_text": "नमस्ते",
        "media_url": "https://sutra.example.org/media/…ogg",
    },
)
async def nmt_tts_with_bhasini(call: FunctionCall) -> dict[str, Any]:
    """Glific's former Bhashini translate-and-speak: ``translate`` then ``text_to_speech``."""
    name = "nmt_tts_with_bhasini"
    text = given(call.fields.get("text"))
    if not text:
        raise FunctionError("text is empty", status=400)
    source = _language(call.fields.get("source_language"), "en")
    target = _language(call.fields.get("target_language")) or source
    translated = await translate_text(call, text, source=source, target=target, function=name)
    url = await say(call, translated, function=name, language=target)
    return {"success": True, "translated_text": translated, "media_url": url}
