"""Inbound media: WhatsApp sends a media id, flows need a URL they can hand on (e.g. to GPT).

The file is downloaded with the channel's token once, kept under the media folder and served
by ``sutra serve`` at ``/media/<name>``; the message's attachment then points there.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

# The whole download, whatever the channel's per-read timeout: a provider trickling bytes must
# not hold the contact's message for ever. WhatsApp's largest media (100 MB) fits at ~1 MB/s.
DOWNLOAD_SECONDS = 120.0


class MediaStore:
    """Media URLs come from the channel's provider (its API answers them), so they are fetched
    as the channel's own calls are, not through the fetch policy for URLs flows choose."""

    def __init__(
        self, folder: Path, public_url: str = "", download_seconds: float = DOWNLOAD_SECONDS
    ) -> None:
        self.folder = folder
        self.public_url = public_url.rstrip("/")
        self.download_seconds = download_seconds

    async def localize(self, attachments: list[str], source: object) -> list[str] | None:
        """Attachments with media ids replaced by Sutra URLs; None when nothing changed."""
        download = getattr(source, "download_media", None)
        if download is None:
            return None
        changed = False
        out: list[str] = []
        for attachment in attachments:
            kind, _, ref = attachment.partition(":")
            if kind == "geo" or not ref or ref.startswith(("http://", "https://", "/")):
                out.append(attachment)
                continue
            try:
                async with asyncio.timeout(self.download_seconds):
                    data, mime = await download(ref)
            except TimeoutError:
                log.warning("media %s: not downloaded within %g s", ref, self.download_seconds)
                out.append(attachment)
                continue
            except Exception as exc:  # keep the id: the flow still sees that media came
                log.warning("could not download media %s: %s", ref, exc)
                out.append(attachment)
                continue
            mime = (mime or kind).split(";")[0].strip()
            out.append(f"{mime}:{self.save(data, mime)}")
            changed = True
        return out if changed else None

    def save(self, data: bytes, mime: str) -> str:
        """Keep ``data`` under a new name; the URL ``sutra serve`` serves it at."""
        extension = _EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ""
        name = f"{uuid.uuid4().hex}{extension}"
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_bytes(data)
        return f"{self.public_url}/media/{name}"

    def local(self, url: str) -> Path | None:
        """The file behind one of this store's URLs (absolute or ``/media/…``), else None."""
        prefixes = [f"{self.public_url}/media/", "/media/"] if self.public_url else ["/media/"]
        prefix = next((p for p in prefixes if url.startswith(p)), None)
        if prefix is None:
            return None
        name = url[len(prefix) :].split("?", 1)[0]
        # Names are ours (hex and an extension): anything else is not our file.
        if not _NAME.fullmatch(name):
            return None
        path = self.folder / name
        return path if path.is_file() else None


# WhatsApp voice notes: mimetypes knows ".oga" for audio/ogg, which players shun.
_EXTENSIONS = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/wav": ".wav"}
_NAME = re.compile(r"[0-9a-f]{32}(\.[A-Za-z0-9]{1,8})?")
