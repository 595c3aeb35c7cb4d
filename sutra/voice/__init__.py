"""Voice: WhatsApp voice notes heard (speech to text) and audio replies spoken (text to speech).

Through the OpenAI-compatible audio endpoints (``/audio/transcriptions``, ``/audio/speech``) when
a key or a base URL is configured, so OpenAI or a local server (whisper.cpp's server,
faster-whisper, vLLM) serve them; offline with Debian's ``espeak-ng`` (speech) and whisper.cpp
(hearing, once a model file is configured). ``ffmpeg`` converts between formats: WhatsApp
plays OGG/Opus voice notes.
"""
