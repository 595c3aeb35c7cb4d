"""Glific's voice functions called as a flow calls them: the real SDK against the stub's audio
endpoints, or offline with espeak-ng; audio read from and kept in a real media folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.functions.registry import FunctionCall, FunctionError, get_function
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.runtime.media import MediaStore
from sutra.store import models as m
from sutra.testing.openai_server import ErrorReply, OpenAIStubServer, Reply
from sutra.testing.voice import have_audio_tools, spoken
from sutra.voice import audio

from .conftest import ASSISTANT, KEY, Faq, add_contact

pytestmark = pytest.mark.skipif(
    not have_audio_tools(),
    reason="apt-get install espeak-ng ffmpeg",
)
QUESTION = "How is malaria spread?"


@pytest.fixture(scope="module")
def note() -> bytes:
    return spoken(QUESTION)


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media", "https://sutra.example.org")


def call_for(
    db: async_sessionmaker[AsyncSession],
    media: MediaStore,
    provider: OpenAIProvider | None = None,
    **fields: Any,
) -> FunctionCall:
    return FunctionCall(
        fields={"organization_id": 1, "contact_id": 1, "flow_id": "flow-1", **fields},
        services=Services(llm=provider, db=db, media=media),
    )


async def run(name: str, call: FunctionCall) -> dict[str, Any]:
    spec = get_function(name)
    assert spec is not None, name
    return await spec.impl(call)


async def usage(db: async_sessionmaker[AsyncSession]) -> list[m.LLMUsage]:
    async with db() as session:
        return list(await session.scalars(select(m.LLMUsage).order_by(m.LLMUsage.id)))


async def test_speech_to_text_hears_a_voice_note_through_the_audio_endpoint(
    db: async_sessionmaker[AsyncSession],
    media: MediaStore,
    embeddings_env: OpenAIStubServer,
    note: bytes,
) -> None:
    await add_contact(db)
    url = media.save(note, "audio/ogg")
    embeddings_env.hears(note, QUESTION)

    result = await run("speech_to_text", call_for(db, media, speech=url, language="english"))

    assert result == {"success": True, "message": QUESTION}
    [request] = embeddings_env.audio_requests
    assert request.data == note and request.fields == {
        "model": "whisper-1",
        "language": "en",
        "response_format": "json",
    }
    [row] = await usage(db)
    assert (row.function, row.provider, row.model) == ("speech_to_text", "openai", "whisper-1")
    assert 0.5 < row.audio_seconds < 5 and row.cost > 0


async def test_without_a_url_the_contacts_last_voice_note_is_heard_and_translated(
    db: async_sessionmaker[AsyncSession],
    media: MediaStore,
    embeddings_env: OpenAIStubServer,
    note: bytes,
) -> None:
    await add_contact(db)
    url = media.save(note, "audio/ogg")
    async with db.begin() as session:
        for uuid, attachments in (("m1", [f"audio/ogg:{url}"]), ("m2", ["image/jpeg:/x.jpg"])):
            await session.execute(
                text(
                    "INSERT INTO messages (uuid, organization_id, contact_id, direction, text, "
                    "attachments, quick_replies, labels, channel, status) VALUES (:uuid, 1, 1, "
                    "'in', '', :attachments, '[]', '[]', 'whatsapp', 'handled')"
                ),
                {"uuid": uuid, "attachments": json.dumps(attachments)},
            )
    embeddings_env.hears(note, QUESTION)
    embeddings_env.plan(Reply("मलेरिया कैसे फैलता है?"))
    provider = OpenAIProvider(api_key=KEY, base_url=embeddings_env.base_url)

    # "@results.question" of a voice note with no text: no URL, so the last voice note.
    result = await run(
        "speech_to_text",
        call_for(db, media, provider, speech="", language="en", output_language="hindi"),
    )

    assert result["message"] == "मलेरिया कैसे फैलता है?"
    [chat] = embeddings_env.requests
    assert "into Hindi" in chat["messages"][0]["content"]
    assert chat["messages"][1]["content"] == QUESTION
    await provider.aclose()


async def test_text_to_speech_offline_speaks_with_espeak_and_serves_a_voice_note(
    db: async_sessionmaker[AsyncSession], media: MediaStore
) -> None:
    await add_contact(db)

    result = await run(
        "text_to_speech", call_for(db, media, text="Wash your hands with soap.", language="en")
    )

    url = result["message"]
    assert url.startswith("https://sutra.example.org/media/") and url.endswith(".ogg")
    path = media.local(url)
    assert path is not None
    data = path.read_bytes()
    assert data.startswith(b"OggS") and b"OpusHead" in data[:64]
    assert await audio.seconds(data, timeout=30) > 1
    [row] = await usage(db)
    assert (row.provider, row.model, row.cost) == ("local", "espeak-ng", 0)
    assert row.audio_seconds > 1


async def test_offline_speech_to_text_without_a_whisper_model_says_what_to_set(
    db: async_sessionmaker[AsyncSession], media: MediaStore, note: bytes
) -> None:
    url = media.save(note, "audio/ogg")

    with pytest.raises(FunctionError, match="SUTRA_WHISPER_MODEL") as caught:
        await run("speech_to_text", call_for(db, media, speech=url))
    assert caught.value.status == 503


async def test_mistakes_fail_with_their_reason(
    db: async_sessionmaker[AsyncSession],
    media: MediaStore,
    embeddings_env: OpenAIStubServer,
) -> None:
    await add_contact(db)
    not_audio = media.save(b"<html>not a voice note</html>", "audio/ogg")
    with pytest.raises(FunctionError, match="Invalid file format") as caught:
        await run("speech_to_text", call_for(db, media, speech=not_audio))
    assert caught.value.status == 400
    with pytest.raises(FunctionError, match="contact sent none"):
        await run("speech_to_text", call_for(db, media, speech="@results.voice"))
    with pytest.raises(FunctionError, match="no longer stored"):
        await run("speech_to_text", call_for(db, media, speech="/media/" + "0" * 32 + ".ogg"))
    with pytest.raises(FunctionError, match="text is empty"):
        await run("text_to_speech", call_for(db, media, text=""))
    embeddings_env.plan_audio(ErrorReply(400, "speech is down", "invalid_request_error"))
    with pytest.raises(FunctionError, match="speech is down"):
        await run("text_to_speech", call_for(db, media, text="Hello"))
    assert await usage(db) == []  # nothing heard or spoken, nothing billed


async def test_an_unknown_language_offline_is_refused_by_name(
    db: async_sessionmaker[AsyncSession], media: MediaStore
) -> None:
    with pytest.raises(FunctionError, match="no voice for language 'elvish'"):
        await run("text_to_speech", call_for(db, media, text="Mae govannen", language="elvish"))


async def test_the_old_bhashini_functions_answer_with_their_old_result_names(
    faq: Faq, media: MediaStore, embeddings_env: OpenAIStubServer, note: bytes
) -> None:
    db = faq.assistants.db
    async with db.begin() as session:
        await session.execute(text("UPDATE contacts SET language = 'hin' WHERE id = 1"))
    url = media.save(note, "audio/ogg")
    embeddings_env.hears(note, "मलेरिया कैसे फैलता है?")
    provider = OpenAIProvider(api_key=KEY, base_url=embeddings_env.base_url)

    heard = await run("speech_to_text_with_bhasini", call_for(db, media, speech=url))
    assert heard["asr_response_text"] == "मलेरिया कैसे फैलता है?"
    assert embeddings_env.audio_requests[0].fields["language"] == "hi"  # the contact's

    embeddings_env.plan(Reply("साबुन से हाथ धोएं।"))
    spoken_back = await run(
        "nmt_tts_with_bhasini",
        call_for(
            db,
            media,
            provider,
            text="Wash your hands with soap.",
            source_language="english",
            target_language="hindi",
        ),
    )
    assert spoken_back["translated_text"] == "साबुन से हाथ धोएं।"
    assert media.local(spoken_back["media_url"]) is not None
    assert embeddings_env.audio_requests[-1].fields["input"] == "साबुन से हाथ धोएं।"
    await provider.aclose()


async def test_voice_filesearch_gpt_answers_in_the_contacts_language(
    faq: Faq, media: MediaStore, embeddings_env: OpenAIStubServer, note: bytes
) -> None:
    url = media.save(note, "audio/ogg")
    embeddings_env.hears(note, QUESTION)
    embeddings_env.plan(
        Reply("Through the bite of infected mosquitoes [1]."), Reply("संक्रमित मच्छरों के काटने से।")
    )
    provider = OpenAIProvider(api_key=KEY, base_url=embeddings_env.base_url)

    result = await run(
        "voice-filesearch-gpt",
        call_for(
            faq.assistants.db,
            media,
            provider,
            speech=url,
            assistant_id=ASSISTANT,
            source_language="english",
            target_language="hin",
            remove_citation=True,
        ),
    )

    assert result["question"] == QUESTION
    assert result["message"].startswith("Through the bite of infected mosquitoes.")
    assert result["translated_text"] == "संक्रमित मच्छरों के काटने से।"
    assert result["thread_id"].startswith(f"{ASSISTANT}:thread-")
    assert media.local(result["media_url"]) is not None
    answer_prompt, translation = embeddings_env.requests
    assert QUESTION in answer_prompt["messages"][-1]["content"]
    assert translation["messages"][1]["content"] == result["message"]
    assert embeddings_env.audio_requests[-1].fields["input"] == result["translated_text"]
    await provider.aclose()
