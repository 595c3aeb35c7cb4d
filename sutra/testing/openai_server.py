"""A scriptable OpenAI-compatible Chat Completions server on loopback, for tests and demos.

The real ``openai`` SDK can talk to it (``base_url=srv.base_url``), so tests exercise the same
wire format, retries and timeouts as production::

    with OpenAIStubServer() as srv:
        srv.plan(ErrorReply(429, "slow down", retry_after_ms=1), Reply("hi"))
        ...  # call the SDK with base_url=srv.base_url
        assert len(srv.requests) == 2

With nothing planned it answers deterministically: ``"echo: <last user message>"``, or the JSON
object ``{"echo": "<last user message>"}`` when the request asks for a JSON ``response_format``.
Token counts are word counts.

``faults=Faults(0.3, seed=1)`` fails a seeded share of the unplanned requests instead (HTTP 500,
429, or an answer slower than any timeout), as a flaky provider would; ``faults_served`` counts
them by kind.

``POST /v1/embeddings`` answers in OpenAI's wire format (floats, or base64 when asked, as the
SDK does by default) with a deterministic bag-of-words embedding (:func:`embed`): texts that
share words point the same way, texts that share none are orthogonal, so similarity scores
mean something in tests. ``respond(fn)`` answers chat requests with nothing planned from their
body (``fn(body)`` returns a :class:`Reply`, or None for the default), e.g. an LLM judge.

``POST /v1/audio/transcriptions`` takes the SDK's multipart upload (``file``, ``model``,
``language``, ``response_format``) and answers what :meth:`OpenAIStubServer.hears` registered for
those exact bytes, else the next :meth:`plan_audio` transcript, else ``"audio of N bytes"``; a
file that is no audio (OGG, WAV, MP3, FLAC, MP4, WebM) is a 400, as OpenAI answers.
``POST /v1/audio/speech`` answers real audio: a WAV (or raw PCM) tone a quarter second per word,
so that length and conversions can be checked; other formats are a 400 (the stub encodes none).

Run ``python -m sutra.testing.openai_server --port 8765`` for a manual demo server.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import math
import random
import re
import struct
import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from sutra.testing.loopback import Clock, LoopbackServer, command_line, serve_until_interrupted


@dataclass(frozen=True)
class Reply:
    """An assistant reply; ``text=None`` means the deterministic default answer."""

    text: str | None = None
    delay: float = 0.0
    finish_reason: str = "stop"

    @classmethod
    def of_json(cls, value: Any, *, delay: float = 0.0) -> Reply:
        return cls(json.dumps(value), delay=delay)


@dataclass(frozen=True)
class Refusal:
    """The model declines: ``message.refusal`` is set and ``content`` is null."""

    refusal: str = "I'm sorry, I can't help with that."
    delay: float = 0.0


@dataclass(frozen=True)
class EmptyChoices:
    """A well-formed completion whose ``choices`` list is empty."""

    delay: float = 0.0


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with OpenAI's error body ``{"error": {message, type, param, code}}``.

    ``retry_after_ms`` sends the ``retry-after-ms`` header, which the SDK obeys instead of its own
    backoff; tests use a small value to keep retries fast.
    """

    status: int
    message: str
    type: str = "server_error"
    code: str | None = None
    retry_after_ms: int | None = None
    delay: float = 0.0


Planned = Reply | Refusal | EmptyChoices | ErrorReply

# What a flaky provider does: a server error, a rate limit (without retry-after-ms, so the SDK
# backs off on its own), and an answer that takes a minute, longer than the timeouts tests set.
DEFAULT_FAULT_MIX: tuple[Planned, ...] = (
    ErrorReply(500, "The server had an error while processing your request."),
    ErrorReply(429, "Rate limit reached for requests", type="requests", code="rate_limit_exceeded"),
    Reply(delay=60.0),
)


@dataclass(frozen=True)
class Faults:
    """Each request with nothing planned fails with probability ``rate``, as one of ``mix``
    chosen at random; ``seed`` makes the sequence of draws repeatable."""

    rate: float
    mix: tuple[Planned, ...] = DEFAULT_FAULT_MIX
    seed: int = 0


def fault_kind(planned: Planned) -> str:
    """A fault's name in ``faults_served``: the HTTP status, or "slow" for a delayed answer.

    >>> [fault_kind(f) for f in DEFAULT_FAULT_MIX]
    ['500', '429', 'slow']
    """
    if isinstance(planned, ErrorReply):
        return str(planned.status)
    return "slow" if planned.delay else type(planned).__name__.lower()


@dataclass(frozen=True)
class Received:
    body: dict[str, Any]
    headers: dict[str, str]
    client_port: int | None


@dataclass(frozen=True)
class AudioRequest:
    """One audio call: ``endpoint`` is ``transcriptions`` or ``speech``; for a transcription
    ``data`` is the uploaded file, for speech ``fields['input']`` the text."""

    endpoint: str
    fields: dict[str, Any]
    data: bytes = b""
    filename: str | None = None
    content_type: str | None = None


@dataclass
class _State:
    api_key: str | None
    plan: deque[Planned] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=itertools.count)
    faults: Faults | None = None
    rng: random.Random = field(default_factory=random.Random)
    faults_served: dict[str, int] = field(default_factory=dict)
    responder: Callable[[dict[str, Any]], Planned | None] | None = None
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    audio_plan: deque[str | ErrorReply] = field(default_factory=deque)
    audio_requests: list[AudioRequest] = field(default_factory=list)
    heard: dict[str, str] = field(default_factory=dict)

    def next_answer(self, body: dict[str, Any] | None = None) -> Planned:
        """The planned answer, else a fault when one is drawn, else the responder's answer,
        else the default (under lock)."""
        if self.plan:
            return self.plan.popleft()
        faults = self.faults
        if faults is not None and faults.mix and self.rng.random() < faults.rate:
            fault = self.rng.choice(faults.mix)
            kind = fault_kind(fault)
            self.faults_served[kind] = self.faults_served.get(kind, 0) + 1
            return fault
        if self.responder is not None and body is not None:
            answer = self.responder(body)
            if answer is not None:
                return answer
        return Reply()


class OpenAIStubServer(LoopbackServer):
    """Serves ``POST /v1/chat/completions``, ``/v1/embeddings`` and ``/v1/audio/…`` from a
    background thread.

    ``port=0`` picks a free port. ``api_key`` makes it reject other bearer tokens with 401.
    ``delay`` (seconds) is added before every answer, as a stand-in for model latency.
    ``faults`` fails a share of the requests (see :class:`Faults`); it can be changed later.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        delay: float = 0.0,
        faults: Faults | None = None,
    ) -> None:
        super().__init__(host=host, port=port, delay=delay)
        self._state = _State(api_key=api_key)
        self.faults = faults

    @property
    def faults(self) -> Faults | None:
        return self._state.faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        with self._state.lock:
            self._state.faults = faults
            self._state.rng = random.Random(faults.seed if faults else 0)

    @property
    def faults_served(self) -> dict[str, int]:
        """How many faults were answered so far, by :func:`fault_kind`."""
        with self._state.lock:
            return dict(self._state.faults_served)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def received(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body received, in order."""
        return [r.body for r in self.received]

    @property
    def headers(self) -> list[dict[str, str]]:
        """Every request's headers (lower-case names), in order."""
        return [r.headers for r in self.received]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """Every ``/v1/embeddings`` request body received, in order."""
        with self._state.lock:
            return list(self._state.embedding_requests)

    @property
    def audio_requests(self) -> list[AudioRequest]:
        """Every ``/v1/audio/...`` request received, in order."""
        with self._state.lock:
            return list(self._state.audio_requests)

    def hears(self, audio: bytes, transcript: str) -> None:
        """Transcribe exactly these bytes as ``transcript``, whenever they are uploaded."""
        with self._state.lock:
            self._state.heard[hashlib.sha256(audio).hexdigest()] = transcript

    def plan_audio(self, *answers: str | ErrorReply) -> None:
        """Queue answers (a transcript or an error) for the next audio requests."""
        with self._state.lock:
            self._state.audio_plan.extend(answers)

    def respond(self, responder: Callable[[dict[str, Any]], Planned | None] | None) -> None:
        """Answer chat requests with nothing planned by ``responder(body)`` (None: default)."""
        with self._state.lock:
            self._state.responder = responder

    def plan(self, *responses: Planned) -> None:
        """Queue answers for the next requests, one each, before falling back to the default."""
        with self._state.lock:
            self._state.plan.extend(responses)

    def reset(self) -> None:
        """Forget planned answers and received requests (for a server shared across tests)."""
        with self._state.lock:
            self._state.plan.clear()
            self._state.received.clear()
            self._state.faults_served.clear()
            self._state.embedding_requests.clear()
            self._state.responder = None
            self._state.audio_plan.clear()
            self._state.audio_requests.clear()
            self._state.heard.clear()

    def _make_app(self) -> FastAPI:
        return _make_app(self._state, self.clock)


def _make_app(state: _State, clock: Clock) -> FastAPI:
    app = FastAPI(
        title="OpenAI stub",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=clock.lifespan(),
    )

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        with state.lock:
            state.received.append(
                Received(
                    body=body if isinstance(body, dict) else {},
                    headers=headers,
                    client_port=request.client.port if request.client else None,
                )
            )
        if state.api_key is not None and headers.get("authorization") != f"Bearer {state.api_key}":
            return _error(
                ErrorReply(
                    401,
                    "Incorrect API key provided.",
                    type="invalid_request_error",
                    code="invalid_api_key",
                )
            )
        if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
            return _error(
                ErrorReply(
                    400,
                    "The request needs a JSON body with 'model' and 'messages'.",
                    type="invalid_request_error",
                )
            )
        with state.lock:
            planned = state.next_answer(body)
            response_id = next(state.ids)
        await clock.pause(clock.delay + planned.delay)
        if clock.stopping is not None and clock.stopping.is_set():
            return _error(ErrorReply(503, "The stub server is shutting down."))
        if isinstance(planned, ErrorReply):
            return _error(planned)
        # Escaped (json.dumps' default), so that a planned reply can hold what only an escape
        # spells, such as the lone surrogate of an emoji cut in half.
        completion = json.dumps(_completion(body, planned, response_id))
        return Response(completion, media_type="application/json")

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        with state.lock:
            state.embedding_requests.append(body if isinstance(body, dict) else {})
        if state.api_key is not None and headers.get("authorization") != f"Bearer {state.api_key}":
            return _error(
                ErrorReply(
                    401,
                    "Incorrect API key provided.",
                    type="invalid_request_error",
                    code="invalid_api_key",
                )
            )
        texts = body.get("input") if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if (
            not isinstance(body, dict)
            or not body.get("model")
            or not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t for t in texts)
        ):
            return _error(
                ErrorReply(
                    400,
                    "The request needs 'model' and 'input' (a non-empty string or list of them).",
                    type="invalid_request_error",
                )
            )
        await clock.pause(clock.delay)
        dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text, dimensions)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_count_tokens(t) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def refused(headers: dict[str, str]) -> JSONResponse | None:
        if state.api_key is not None and headers.get("authorization") != f"Bearer {state.api_key}":
            return _error(
                ErrorReply(
                    401,
                    "Incorrect API key provided.",
                    type="invalid_request_error",
                    code="invalid_api_key",
                )
            )
        return None

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            form = await request.form(max_files=1, max_fields=20)
        except Exception:
            form = None
        upload = form.get("file") if form is not None else None
        fields = {k: v for k, v in form.items() if isinstance(v, str)} if form is not None else {}
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        with state.lock:
            state.audio_requests.append(
                AudioRequest(
                    "transcriptions",
                    fields,
                    data,
                    upload.filename if isinstance(upload, UploadFile) else None,
                    upload.content_type if isinstance(upload, UploadFile) else None,
                )
            )
        if (denied := refused(headers)) is not None:
            return denied
        if not fields.get("model") or not isinstance(upload, UploadFile):
            return _error(
                ErrorReply(400, "The request needs 'model' and a 'file'.", "invalid_request_error")
            )
        if _audio_kind(data) is None:
            return _error(
                ErrorReply(
                    400,
                    "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', "
                    "'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
                    "invalid_request_error",
                )
            )
        with state.lock:
            known = state.heard.get(hashlib.sha256(data).hexdigest())
            planned = state.audio_plan.popleft() if known is None and state.audio_plan else None
        await clock.pause(clock.delay)
        if isinstance(planned, ErrorReply):
            return _error(planned)
        text = known if known is not None else planned or f"audio of {len(data)} bytes"
        if fields.get("response_format") == "text":
            return Response(text, media_type="text/plain")
        return JSONResponse({"text": text})

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            body = await request.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        with state.lock:
            state.audio_requests.append(AudioRequest("speech", body))
        if (denied := refused(headers)) is not None:
            return denied
        text, fmt = body.get("input"), body.get("response_format") or "mp3"
        if not body.get("model") or not body.get("voice") or not isinstance(text, str) or not text:
            return _error(
                ErrorReply(
                    400, "The request needs 'model', 'voice' and 'input'.", "invalid_request_error"
                )
            )
        if fmt not in ("wav", "pcm"):
            return _error(
                ErrorReply(400, f"The stub speaks wav and pcm, not {fmt}.", "invalid_request_error")
            )
        with state.lock:
            planned = state.audio_plan.popleft() if state.audio_plan else None
        await clock.pause(clock.delay)
        if isinstance(planned, ErrorReply):
            return _error(planned)
        pcm = tone(max(0.5, 0.25 * len(text.split())))
        if fmt == "pcm":
            return Response(pcm, media_type="audio/pcm")
        return Response(_wav(pcm), media_type="audio/wav")

    return app


SPEECH_RATE = 24_000  # OpenAI's speech is 24 kHz, 16-bit mono


def tone(seconds: float, rate: int = SPEECH_RATE) -> bytes:
    """``seconds`` of a soft 220 Hz tone as 16-bit mono PCM: audio any decoder reads."""
    frames = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * 220 * i / rate))) for i in range(frames)
    )


def _wav(pcm: bytes, rate: int = SPEECH_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def _audio_kind(data: bytes) -> str | None:
    """The container of an audio file from its first bytes, else None.

    >>> _audio_kind(b"OggS..."), _audio_kind(b"RIFF....WAVEfmt "), _audio_kind(b"hello")
    ('ogg', 'wav', None)
    """
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "mp3"
    if data.startswith(b"fLaC"):
        return "flac"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    return None


EMBEDDING_DIMENSIONS = 256
_WORD = re.compile(r"\w+")


def embed(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector: each word (lower case, a plural's "s" dropped) adds 1 to a dimension
    chosen by its hash. Deterministic across processes (sha256, not ``hash``).

    >>> a, b = embed("Wash your hands"), embed("wash hands")
    >>> round(sum(x * y for x, y in zip(a, b)), 3)
    0.816
    """
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.casefold()):
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dimensions
        vector[slot] += 1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def _error(planned: ErrorReply) -> JSONResponse:
    headers: dict[str, str] = {}
    if planned.retry_after_ms is not None:
        headers["retry-after-ms"] = str(planned.retry_after_ms)
    return JSONResponse(
        {
            "error": {
                "message": planned.message,
                "type": planned.type,
                "param": None,
                "code": planned.code,
            }
        },
        status_code=planned.status,
        headers=headers,
    )


def _completion(
    body: dict[str, Any], planned: Reply | Refusal | EmptyChoices, response_id: int
) -> dict[str, Any]:
    choices: list[dict[str, Any]] = []
    completion_text = ""
    if isinstance(planned, Reply):
        completion_text = planned.text if planned.text is not None else _default_answer(body)
        message = {"role": "assistant", "content": completion_text, "refusal": None}
        choices.append({"index": 0, "message": message, "finish_reason": planned.finish_reason})
    elif isinstance(planned, Refusal):
        completion_text = planned.refusal
        message = {"role": "assistant", "content": None, "refusal": planned.refusal}
        choices.append({"index": 0, "message": message, "finish_reason": "stop"})
    prompt_tokens = sum(_count_tokens(_text_of(m)) for m in body["messages"])
    completion_tokens = _count_tokens(completion_text)
    return {
        "id": f"chatcmpl-stub-{response_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _default_answer(body: dict[str, Any]) -> str:
    user_messages = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    question = _text_of(user_messages[-1]) if user_messages else ""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        return json.dumps({"echo": question})
    return f"echo: {question}"


def _text_of(message: Any) -> str:
    """A message's text, whether ``content`` is a string or a list of content parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _count_tokens(text: str) -> int:
    return len(text.split())


def main(argv: list[str] | None = None) -> None:
    parser = command_line("Run an OpenAI-compatible stub server.")
    parser.add_argument("--api-key", default=None, help="reject other bearer tokens")
    args = parser.parse_args(argv)
    server = OpenAIStubServer(
        host=args.host, port=args.port, api_key=args.api_key, delay=args.delay
    )
    serve_until_interrupted(server, lambda: server.base_url)


if __name__ == "__main__":
    main()
