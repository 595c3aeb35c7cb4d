"""Offline voice: Debian's ``espeak-ng`` speaks, whisper.cpp hears (when a model file is set).

No model ships with Sutra and none can be downloaded at run time: offline transcription needs
``SUTRA_WHISPER_MODEL`` (a ``ggml-*.bin`` file from whisper.cpp) and its ``whisper-cli``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sutra.voice import audio
from sutra.voice.audio import AudioError

ESPEAK = "espeak-ng"
PROVIDER = "local"


async def speak(text: str, *, language: str, timeout: float) -> bytes:
    """``text`` spoken by espeak-ng in ``language`` (an ISO 639-1 code), as WAV."""
    try:
        # The text goes on stdin: as an argument a leading "-" would read as an option.
        return await audio.run(
            [ESPEAK, "-v", language or "en", "--stdout"], text.encode(), timeout=timeout
        )
    except AudioError as exc:
        if "voice does not exist" in str(exc):
            raise AudioError(f"espeak-ng has no voice for language {language!r}") from None
        raise


async def transcribe(
    data: bytes, *, model: Path | None, command: str, language: str | None, timeout: float
) -> str:
    """What whisper.cpp hears in ``data`` (any format ffmpeg reads)."""
    if model is None:
        raise AudioError(
            "offline speech to text needs a whisper.cpp model: set SUTRA_WHISPER_MODEL to a "
            "ggml model file, or configure an OpenAI-compatible transcription service"
        )
    if not model.is_file():
        raise AudioError(f"the whisper model {model.name} is not there (SUTRA_WHISPER_MODEL)")
    wav = await audio.to_wav(data, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="sutra-whisper-") as folder:
        path = Path(folder) / "speech.wav"
        path.write_bytes(wav)
        argv = [command, "-m", str(model), "-f", str(path), "-nt", "-np"]
        argv += ["-l", language or "auto"]
        out = await audio.run(argv, b"", timeout=timeout)
    return " ".join(out.decode(errors="replace").split())
