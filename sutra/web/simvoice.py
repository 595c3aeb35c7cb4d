"""A voice note a tester sends from the simulator, made into what WhatsApp would have delivered.

WhatsApp delivers a voice note as OGG/Opus, which the pipeline keeps in the media folder
(:mod:`sutra.runtime.media`) so the flow sees ``audio/ogg:<Sutra URL>``. A browser records
WebM/Opus (Chromium, Firefox) or MP4/AAC (Safari), and a tester may pick an MP3 or a WAV file:
those are converted to OGG/Opus with ffmpeg, so the flow (``has_audio``, ``speech_to_text``
with the contact's last voice note) gets exactly what a phone would send. An OGG file is kept
byte for byte, as the pipeline keeps a downloaded voice note.
"""

from __future__ import annotations

from sutra.voice import audio

# WhatsApp's own limit on an audio message.
MAX_BYTES = 16 * 2**20
# The multipart form around the file (the contact's name, the part headers).
BODY_BYTES = MAX_BYTES + 64 * 1024
OGG = audio.OGG_OPUS
# What a file picker may call an audio file besides ``audio/*`` (a .webm file is "video/webm").
_ALSO_AUDIO = frozenset({"", "application/octet-stream", "video/webm"})


class VoiceNoteError(Exception):
    """Why a voice note was refused: ``status`` is the HTTP answer, the text is for the tester."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def container(data: bytes) -> str | None:
    """The audio container ``data`` starts like, else None (an image, a PDF, text).

    >>> container(b"OggS\\x00\\x02"), container(b"\\x1aE\\xdf\\xa3\\x9fB"), container(b"%PDF-1.7")
    ('ogg', 'webm', None)
    >>> container(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt "), container(b"\\x00\\x00\\x00\\x18ftypM4A ")
    ('wav', 'mp4')
    """
    head = data[:12]
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"  # or AAC in ADTS frames: ffmpeg tells them apart
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"#!AMR"):
        return "amr"
    return None


async def voice_note(data: bytes, declared: str, *, timeout: float) -> bytes:
    """``data`` as an OGG voice note, or :class:`VoiceNoteError` saying why it cannot be one."""
    if len(data) > MAX_BYTES:
        raise VoiceNoteError(413, f"the voice note is larger than {MAX_BYTES // 2**20} MB")
    if not data:
        raise VoiceNoteError(422, "the voice note is empty")
    kind = declared.split(";", 1)[0].strip().lower()
    if not (kind.startswith("audio/") or kind in _ALSO_AUDIO):
        raise VoiceNoteError(415, f"only audio can be sent as a voice note, not {kind}")
    found = container(data)
    if found is None:
        raise VoiceNoteError(415, "the file is not audio Sutra can read (OGG, WebM, MP3, WAV…)")
    if found == "ogg":
        return data
    try:
        return await audio.to_ogg_opus(data, timeout=timeout)
    except audio.AudioError as exc:
        raise VoiceNoteError(422, f"the {found} audio could not be converted: {exc}") from None
