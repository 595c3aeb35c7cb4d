"""Voice notes for tests and benchmarks: text spoken by espeak-ng, encoded as WhatsApp sends a
voice note (OGG/Opus), with Debian's ``espeak-ng`` and ``ffmpeg``."""

from __future__ import annotations

import shutil
import subprocess


def have_audio_tools() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("ffmpeg"))


def spoken(text: str) -> bytes:
    """``text`` spoken by espeak-ng as an OGG/Opus voice note, as a phone sends it."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout"], input=text.encode(), capture_output=True, timeout=60
    )
    ogg = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-c:a", "libopus", "-f", "ogg", "pipe:1"],
        input=wav.stdout,
        capture_output=True,
        timeout=60,
    )
    if not ogg.stdout.startswith(b"OggS"):
        raise RuntimeError(f"could not make a voice note: {ogg.stderr.decode(errors='replace')}")
    return ogg.stdout
