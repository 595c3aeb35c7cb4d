"""The embedded model: llama.cpp (through ``xllamacpp``) on the CPU, inside the Sutra process.

Each model file is loaded once per process, on its first request, and then shared by every
provider and organisation. llama.cpp decodes up to ``parallel`` requests together (``n_parallel``
slots over one unified KV cache); each generation occupies a thread of a pool of that size, so
further requests wait their turn in the pool's queue instead of failing. Generations stream token
by token through a callback, which is the only way to stop one: a request whose caller gave up (a
timeout, a cancelled task, the process shutting down) stops at its next token.

xllamacpp always opens an HTTP listener on 127.0.0.1; it gets a random key that never leaves the
process, so nothing else on the machine can use the model through it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sutra.llm.base import Completion, LLMError, Usage
from sutra.llm.local_models import ModelError, ModelFile, resolve, verify

if TYPE_CHECKING:
    import xllamacpp

    from sutra.config import Settings

JSON_FORMATS = ("json_object", "json_schema")
GGUF_MAGIC = b"GGUF"


def default_threads() -> int:
    """Half the CPUs this process may use, at least 1 and at most 8.

    llama.cpp's threads spin-wait on one another at every step; when they share cores with the
    event loop, the database and other processes, two threads on a 2-core machine were measured
    30x slower than one. Half the cores leaves room for the rest of Sutra.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus // 2))


@dataclass(frozen=True)
class LocalConfig:
    model: str = "smollm2"
    # (flow model name, local model) pairs; a tuple so that the config can key a cache.
    model_map: tuple[tuple[str, str], ...] = ()
    threads: int | None = None
    parallel: int = 4
    context: int = 8192
    max_tokens: int = 256
    timeout: float = 300.0
    repeat_penalty: float = 1.1
    system_prompt: str = (
        "You are a helpful assistant. Answer briefly and accurately, "
        "in the language of the question."
    )
    models_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalConfig:
        return cls(
            model=settings.local_model,
            model_map=tuple(sorted(settings.local_model_map.items())),
            threads=settings.local_threads,
            parallel=settings.local_parallel,
            context=settings.local_context,
            max_tokens=settings.local_max_tokens,
            timeout=settings.local_timeout,
            repeat_penalty=settings.local_repeat_penalty,
            system_prompt=settings.local_system_prompt,
            models_dir=settings.models_dir,
        )


@dataclass
class _Stream:
    """What one streamed generation produced."""

    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def add(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if isinstance(chunk.get("error"), dict):
            self.error = chunk["error"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.parts.append(delta["content"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    @property
    def text(self) -> str:
        return "".join(self.parts)


# Set while the process shuts down: every running generation stops at its next token.
_STOPPING = threading.Event()


class LocalEngine:
    """One loaded model file, its generation threads and its request queue."""

    def __init__(self, model: ModelFile, *, threads: int, parallel: int, context: int) -> None:
        self.model = model
        self.threads = threads
        self.parallel = parallel
        self.context = context
        self._server: xllamacpp.Server | None = None
        self._load_lock = threading.Lock()
        # Sized to the slots: a bigger pool would only make requests wait inside llama.cpp, a
        # smaller one (asyncio's default pool is min(32, cpus + 4)) would leave slots idle.
        self._executor = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="sutra-llm")
        self._secret = secrets.token_urlsafe(32)
        self._count_lock = threading.Lock()
        self._queued = 0
        self._running = 0

    @property
    def loaded(self) -> bool:
        return self._server is not None

    @property
    def queued(self) -> int:
        """Requests waiting for a free slot."""
        return self._queued

    @property
    def running(self) -> int:
        return self._running

    @property
    def listening_address(self) -> str:
        """xllamacpp's own HTTP listener (it requires the engine's secret key)."""
        return self.load().listening_address

    def load(self) -> xllamacpp.Server:
        """The loaded server; the first caller loads it (blocking: call it from a thread)."""
        with self._load_lock:
            if self._server is None:
                self._server = self._start()
            return self._server

    def _start(self) -> xllamacpp.Server:
        with self.model.path.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise ModelError(f"{self.model.path} is not a GGUF file")
        verify(self.model)
        try:
            # Deferred: only a process that uses the local model loads the library.
            import xllamacpp
        except ImportError as exc:
            raise ModelError(
                f"the local model runtime is missing ({exc}): run `make setup`"
            ) from exc

        params = xllamacpp.CommonParams()
        params.model.path = str(self.model.path)
        params.n_parallel = self.parallel
        # One KV cache for all slots: otherwise n_ctx is divided between them and a long
        # conversation in one slot overflows while the others sit empty.
        params.kv_unified = True
        params.n_ctx = self.context
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        # Nothing uses the HTTP listener; one thread is enough to answer 401.
        params.n_threads_http = 1
        params.api_keys = [self._secret]
        params.verbosity = 0
        try:
            return xllamacpp.Server(params)
        except RuntimeError as exc:  # a damaged file, or one llama.cpp cannot run
            raise ModelError(
                f"could not load the local model {self.model.path.name}: {exc}"
            ) from exc

    def _generate(self, body: dict[str, Any], cancel: threading.Event) -> _Stream:
        with self._count_lock:
            self._queued -= 1
            self._running += 1
        try:
            stream = _Stream()
            if cancel.is_set() or _STOPPING.is_set():
                return stream
            server = self.load()

            def on_chunk(chunk: Any) -> bool:
                stream.add(chunk)
                # True stops the generation.
                return cancel.is_set() or _STOPPING.is_set()

            server.handle_chat_completions(body, on_chunk)
            return stream
        finally:
            with self._count_lock:
                self._running -= 1

    async def generate(self, body: dict[str, Any], timeout: float) -> _Stream:
        """Run one streamed chat completion; raises TimeoutError after ``timeout`` seconds
        (queueing included), stopping the generation."""
        cancel = threading.Event()
        with self._count_lock:
            self._queued += 1
        try:
            task = self._executor.submit(self._generate, body, cancel)
        except RuntimeError:  # the pool is shut down
            with self._count_lock:
                self._queued -= 1
            raise LLMError("the local model is shutting down", status=503) from None
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.wrap_future(task)
        except BaseException:
            # A request still queued is dropped from the pool (cancel() is then true and it never
            # runs); one that runs sees the flag at its next token.
            cancel.set()
            if task.cancel():
                with self._count_lock:
                    self._queued -= 1
            raise

    def close(self) -> None:
        """Stop taking requests, wait for running ones (they were asked to stop) and unload."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._load_lock:
            # xllamacpp has no close(): dropping the last reference frees the model and stops
            # the listener. Only safe once no generation runs, hence the wait above.
            self._server = None


_ENGINES: dict[tuple[str, int, int, int], LocalEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(model: ModelFile, *, threads: int, parallel: int, context: int) -> LocalEngine:
    """The process-wide engine for this file and these settings (created, not yet loaded)."""
    key = (str(model.path.resolve()), threads, parallel, context)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = LocalEngine(
                model, threads=threads, parallel=parallel, context=context
            )
        return engine


def shutdown() -> None:
    """Stop every running generation, wait for them, and unload every model.

    Registered with atexit: exiting while llama.cpp still works in another thread can crash the
    interpreter. (ThreadPoolExecutor's own exit hook has already waited for our threads by the
    time atexit runs; this frees the models in a known order.) Engines made afterwards work.
    """
    _STOPPING.set()
    try:
        with _ENGINES_LOCK:
            engines = list(_ENGINES.values())
            _ENGINES.clear()
        for engine in engines:
            engine.close()
    finally:
        _STOPPING.clear()


atexit.register(shutdown)


class LocalProvider:
    """:class:`~sutra.llm.base.LLMProvider` on the embedded model."""

    name = "local"

    def __init__(self, config: LocalConfig | None = None) -> None:
        self.config = config or LocalConfig()
        self._map = dict(self.config.model_map)

    def model_for(self, requested: str) -> ModelFile:
        """The local model a flow's model name (``gpt-4o``) maps to."""
        try:
            return resolve(self._map.get(requested, self.config.model), self.config.models_dir)
        except ModelError as exc:
            raise LLMError(str(exc), status=503) from exc

    def engine(self, requested: str) -> LocalEngine:
        return engine_for(
            self.model_for(requested),
            threads=self.config.threads or default_threads(),
            parallel=self.config.parallel,
            context=self.config.context,
        )

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        if _has_images(messages):
            raise LLMError(
                "the local model cannot read images; set OPENAI_API_KEY for vision", status=400
            )
        engine = self.engine(model)
        body = self.request(messages, temperature, response_format, max_tokens)
        started = time.perf_counter()
        try:
            stream = await engine.generate(body, self.config.timeout)
        except TimeoutError:
            raise LLMError(
                f"the local model did not answer within {self.config.timeout:g} s", status=504
            ) from None
        except ModelError as exc:
            raise LLMError(str(exc), status=503) from exc
        except (ValueError, RuntimeError) as exc:
            # xllamacpp raises these for requests it refuses (an unknown response_format type).
            raise LLMError(f"the local model refused the request: {exc}", status=400) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if stream.error is not None:
            code = stream.error.get("code")
            raise LLMError(
                str(stream.error.get("message") or "the local model failed"),
                status=code if isinstance(code, int) else 500,
            )
        if stream.finish_reason is None:
            raise LLMError("the local model stopped before answering", status=503)
        wants_json = _wants_json(response_format)
        usage = stream.usage or {}
        completion_tokens = int(usage.get("completion_tokens") or 0)
        if wants_json and stream.finish_reason == "length":
            # Grammar-constrained JSON is only valid once closed; a cut object is no answer.
            raise LLMError(
                f"the local model's JSON answer was cut off after {completion_tokens} tokens "
                "(raise SUTRA_LOCAL_MAX_TOKENS)"
            )
        return Completion(
            text=stream.text,
            usage=Usage(
                provider=self.name,
                model=engine.model.label,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=completion_tokens,
                latency_ms=latency_ms,
            ),
            finish_reason=stream.finish_reason,
        )

    def request(
        self,
        messages: list[dict[str, Any]],
        temperature: float,
        response_format: dict[str, Any] | None,
        max_tokens: int | None,
    ) -> dict[str, Any]:
        """The xllamacpp request body for a chat completion."""
        wants_json = _wants_json(response_format)
        body: dict[str, Any] = {
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens or self.config.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if not _has_system_prompt(messages):
            # Without a system message SmolLM2 answered "What is the capital of France?" with
            # French looping on itself; a default prompt and a repetition penalty fix that. The
            # penalty is left off for JSON: it punishes the quotes and braces JSON is made of.
            body["messages"] = [
                {"role": "system", "content": self.config.system_prompt},
                *(m for m in messages if m.get("role") != "system"),
            ]
            if not wants_json:
                body["repeat_penalty"] = self.config.repeat_penalty
        if response_format:
            body["response_format"] = response_format
        return body


def _wants_json(response_format: dict[str, Any] | None) -> bool:
    return response_format is not None and response_format.get("type") in JSON_FORMATS


def _has_system_prompt(messages: list[dict[str, Any]]) -> bool:
    """Whether a system message says anything (Glific flows often send ``prompt: ""``)."""
    return any(
        m.get("role") == "system" and isinstance(m.get("content"), str) and m["content"].strip()
        for m in messages
    )


def _has_images(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for m in messages
        if isinstance(m.get("content"), list)
        for part in m["content"]
    )
