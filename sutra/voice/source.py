"""Where a voice step's audio comes from, and where its spoken answer goes.

``speech`` is a URL (a flow passes ``@results.question.input``, the voice note's URL), or
empty / not a URL (a flow passes ``@results.question``, or nothing): then the contact's last
voice note is heard, as Glific does. Sutra's own media (inbound voice notes are kept under the
media folder) is read from disk; any other URL is fetched under the fetch policy.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from sutra.config import ServerSettings
from sutra.functions.download import download, too_big
from sutra.functions.llmcall import Caller
from sutra.functions.registry import FunctionCall, FunctionError
from sutra.runtime.media import MediaStore
from sutra.store import models as m
from sutra.voice.audio import OGG_OPUS

# Inbound messages looked through for the contact's last voice note.
RECENT_MESSAGES = 20


@dataclass(frozen=True)
class Audio:
    data: bytes
    filename: str
    mime: str


def media_of(call: FunctionCall) -> MediaStore:
    if call.services.media is not None:
        return call.services.media
    server = ServerSettings()
    return MediaStore(Path(server.sutra_media_dir), server.sutra_public_url)


def _url(value: object) -> str | None:
    text = str(value or "").strip()
    if text.startswith(("http://", "https://", "/media/")):
        return text
    # "audio/ogg:https://…", an attachment as flows write them.
    kind, sep, rest = text.partition(":")
    if sep and "/" in kind and rest.startswith(("http://", "https://", "/media/")):
        return rest
    return None


async def last_audio_url(call: FunctionCall) -> str | None:
    """The URL of the newest voice note the contact sent (among their recent messages)."""
    caller = Caller.of(call)
    db = call.services.db
    if db is None or caller.contact_id is None or caller.organization_id is None:
        return None
    async with db() as session:
        rows = await session.scalars(
            select(m.Message.attachments)
            .where(
                m.Message.contact_id == caller.contact_id,
                m.Message.organization_id == caller.organization_id,
                m.Message.direction == "in",
            )
            .order_by(m.Message.created_at.desc(), m.Message.id.desc())
            .limit(RECENT_MESSAGES)
        )
        for attachments in rows:
            for attachment in attachments or []:
                if isinstance(attachment, str) and attachment.startswith("audio"):
                    url = _url(attachment)
                    if url:
                        return url
    return None


async def audio_for(call: FunctionCall, speech: object, *, max_bytes: int, timeout: float) -> Audio:
    """The audio ``speech`` names, else the contact's last voice note."""
    url = _url(speech) or await last_audio_url(call)
    if url is None:
        raise FunctionError(
            "no voice note: speech is not a URL and the contact sent none", status=400
        )
    local = media_of(call).local(url)
    name = Path(urlsplit(url).path).name or "speech.ogg"
    mime = mimetypes.guess_type(name)[0] or OGG_OPUS
    if local is not None:
        if local.stat().st_size > max_bytes:
            raise FunctionError(too_big("audio", max_bytes), status=413)
        return Audio(local.read_bytes(), name, mime)
    if url.startswith("/media/"):
        raise FunctionError("the voice note is no longer stored", status=404)
    data, declared = await _download(url, call.services.http, max_bytes, timeout)
    return Audio(data, name, declared or mime)


async def _download(
    url: str, client: httpx.AsyncClient | None, max_bytes: int, timeout: float
) -> tuple[bytes, str | None]:
    data, declared = await download(
        url, what="audio", client=client, max_bytes=max_bytes, timeout=timeout
    )
    return data, declared if declared.startswith("audio/") else None
