"""Audio conversions and lengths with ``ffmpeg``/``ffprobe``, run as child processes.

Every program runs under a timeout and is killed when it overruns, so a malformed file a
contact sent can hold nothing for ever; its output is bounded by what it is asked to produce.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import wave

from sutra.runtime.working import away

OGG_OPUS = "audio/ogg"
# Speech at 16 kHz mono: what WhatsApp's own voice notes carry, and what whisper wants.
SPEECH_RATE = 16_000
# Decoded audio is cut here: a small file can hold hours of silence, which would fill memory.
MAX_SECONDS = 900


class AudioError(Exception):
    """A conversion failed; the reason names the program, never the contact's data."""


def have(program: str) -> bool:
    return shutil.which(program) is not None


async def run(argv: list[str], data: bytes, *, timeout: float) -> bytes:
    """``argv`` fed ``data`` on stdin; its stdout, or :class:`AudioError`."""
    if not have(argv[0]):
        raise AudioError(f"{argv[0]} is not installed (apt-get install {_package(argv[0])})")
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # Another process's CPU: the contact's turn on this one is free meanwhile.
        async with away(), asyncio.timeout(timeout):
            out, err = await process.communicate(data)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AudioError(f"{argv[0]} took longer than {timeout:g} s") from None
    if process.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise AudioError(f"{argv[0]} failed: {last[0][:200]}")
    return out


def _package(program: str) -> str:
    return {"ffprobe": "ffmpeg", "whisper-cli": "whisper.cpp"}.get(program, program)


def _ffmpeg(*options: str) -> list[str]:
    """ffmpeg reading stdin, writing stdout, audio only."""
    return ["ffmpeg", "-v", "error", "-i", "pipe:0", "-vn", *options, "pipe:1"]


async def to_ogg_opus(data: bytes, *, timeout: float) -> bytes:
    """Any audio ffmpeg reads, as an OGG/Opus voice note (mono, 16 kHz, 24 kbit/s)."""
    return await run(
        _ffmpeg("-ac", "1", "-ar", str(SPEECH_RATE), "-c:a", "libopus", "-b:a", "24k", "-f", "ogg"),
        data,
        timeout=timeout,
    )


async def to_wav(data: bytes, *, timeout: float) -> bytes:
    """Any audio ffmpeg reads, as 16-bit mono 16 kHz WAV (what whisper.cpp reads)."""
    return await run(
        _ffmpeg("-t", str(MAX_SECONDS), "-ac", "1", "-ar", str(SPEECH_RATE), "-f", "wav"),
        data,
        timeout=timeout,
    )


def wav_seconds(data: bytes) -> float | None:
    """The length of a WAV file from its header, else None (not a WAV file).

    >>> buffer = io.BytesIO()
    >>> with wave.open(buffer, "wb") as w:
    ...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(b"\\0" * 8000)
    >>> wav_seconds(buffer.getvalue()), wav_seconds(b"OggS....")
    (0.5, None)
    """
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate = w.getframerate()
            frames = w.getnframes()
    except (wave.Error, EOFError):
        return None
    if rate <= 0:
        return None
    # Programs writing WAV to a pipe cannot go back to fill in the length: the header then
    # says "as long as possible", and the bytes after it tell the truth.
    if frames >= 0x7FFF0000 // max(1, w.getsampwidth() * w.getnchannels()):
        frames = (len(data) - 44) // max(1, w.getsampwidth() * w.getnchannels())
    return round(frames / rate, 3)


async def seconds(data: bytes, *, timeout: float) -> float:
    """How long ``data`` plays: from a WAV header, else by decoding it (ffprobe cannot tell an
    OGG file's length from a pipe). 0 when no program can read it, so it is never billed."""
    length = wav_seconds(data)
    if length is not None:
        return length
    try:
        # 8 kHz 8-bit mono: one byte a sample, and at most MAX_SECONDS of it in memory.
        pcm = await run(
            _ffmpeg("-t", str(MAX_SECONDS), "-ac", "1", "-ar", "8000", "-f", "u8"),
            data,
            timeout=timeout,
        )
    except AudioError:
        return 0.0
    return round(len(pcm) / 8000, 3)
