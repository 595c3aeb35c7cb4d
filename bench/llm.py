"""What Sutra's LLM layer costs on top of the libraries it wraps.

(a) ``parse_via_chat_gpt`` against the raw ``AsyncOpenAI`` client, both calling the same loopback
    OpenAI stub (a separate process, so that it does not share this process's GIL), N calls at
    each concurrency. Ratio = Sutra's wall time / the raw client's (1.00 = no overhead). The
    function runs once without a database and once recording usage in SQLite, as the runtime does.
(b) Generation speed through the local provider against ``xllamacpp`` called directly on the same
    loaded model. Ratio = provider tokens/s / direct tokens/s (1.00 = no overhead).

    .venv/bin/python bench/llm.py [--calls 1000] [--concurrency 100 1000] [--tokens 96]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from sutra.functions.registry import FunctionCall, get_function
from sutra.functions.services import Services
from sutra.llm import local_provider
from sutra.llm.local_provider import LocalConfig, LocalProvider
from sutra.llm.openai_provider import OpenAIProvider
from sutra.store.db import create_async_engine_for, create_session_factory, migrate

KEY = "sk-bench"
PROMPT = "You help people at an NGO helpline. Answer briefly."
NAMES = ["Asha", "Ravi", "Meera", "Arjun", "Lina", "Omar", "Sita", "Tomas", "Zara", "Ken", "Ana"]


@contextmanager
def stub_server() -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sutra.testing.openai_server import main; main()",
            *("--port", "0", "--api-key", KEY),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


async def run_many(n: int, concurrency: int, call: Callable[[int], Awaitable[Any]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await call(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - started


async def overhead(base_url: str, calls: int, concurrencies: list[int]) -> None:
    raw = AsyncOpenAI(api_key=KEY, base_url=base_url)
    provider = OpenAIProvider(api_key=KEY, base_url=base_url)
    spec = get_function("parse_via_chat_gpt")
    assert spec is not None
    tmp = tempfile.TemporaryDirectory(prefix="sutra-bench-")
    url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    migrate(url)
    engine = create_async_engine_for(url)
    with_db = Services(llm=provider, db=create_session_factory(engine))
    without_db = Services(llm=provider)

    async def raw_call(i: int) -> None:
        response = await raw.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": PROMPT},
                {"role": "user", "content": f"Question {i}?"},
            ],
            temperature=0,
        )
        assert response.choices[0].message.content

    def function_call(services: Services) -> Callable[[int], Awaitable[None]]:
        async def call(i: int) -> None:
            fields = {
                "question_text": f"Question {i}?",
                "gpt_model": "gpt-4o",
                "prompt": PROMPT,
                "organization_id": 1,
                "flow_id": "bench",
                "contact_id": None,
                "result_name": "gpt",
            }
            result = await spec.impl(FunctionCall(fields=fields, services=services))
            assert result["success"]

        return call

    # Warm both paths (connections, imports, the SQLite file).
    await run_many(200, 50, raw_call)
    await run_many(200, 50, function_call(with_db))

    print(f"(a) parse_via_chat_gpt vs raw AsyncOpenAI, {calls:,} calls to a loopback stub")
    print(
        f"    {'concurrency':>11} {'raw s':>8} {'function s':>11} {'ratio':>6}"
        f" {'+usage in SQLite s':>19} {'ratio':>6}"
    )
    for concurrency in concurrencies:
        # Best of two, alternating, so that a burst of noise on a shared machine hits both.
        raw_s, fn_s, db_s = [], [], []
        for _ in range(2):
            raw_s.append(await run_many(calls, concurrency, raw_call))
            fn_s.append(await run_many(calls, concurrency, function_call(without_db)))
            db_s.append(await run_many(calls, concurrency, function_call(with_db)))
        r, f, d = min(raw_s), min(fn_s), min(db_s)
        print(f"    {concurrency:>11,} {r:>8.2f} {f:>11.2f} {f / r:>6.2f} {d:>19.2f} {d / r:>6.2f}")
    await raw.close()
    await provider.aclose()
    await engine.dispose()
    tmp.cleanup()


def story(i: int) -> list[dict[str, Any]]:
    # A different name per request, so that neither side gets the other's cached prompt.
    return [
        {"role": "system", "content": "You are a storyteller."},
        {
            "role": "user",
            "content": f"Tell a long story about a cat named {NAMES[i % len(NAMES)]}.",
        },
    ]


async def local_speed(tokens: int, rounds: int) -> None:
    provider = LocalProvider(LocalConfig(max_tokens=tokens))
    engine = provider.engine("gpt-4o")
    started = time.perf_counter()
    server = await asyncio.to_thread(engine.load)
    load_s = time.perf_counter() - started

    def direct(i: int) -> int:
        body = {"messages": story(i), "temperature": 0, "max_tokens": tokens}
        reply = server.handle_chat_completions(body)
        return int(reply["usage"]["completion_tokens"])

    async def through_provider(i: int) -> int:
        completion = await provider.complete(story(i), model="gpt-4o", max_tokens=tokens)
        return completion.usage.completion_tokens

    await through_provider(0)  # warm-up
    print()
    print(
        f"(b) local provider vs xllamacpp direct: {engine.model.label}, "
        f"{engine.threads} thread(s), {engine.parallel} slots, {tokens} tokens per answer "
        f"(model load {load_s:.2f} s)"
    )
    print(f"    {'at once':>7} {'direct tok/s':>13} {'provider tok/s':>15} {'ratio':>6}")
    pool = ThreadPoolExecutor(max_workers=engine.parallel)
    for width in (1, engine.parallel):
        direct_rates, provider_rates = [], []
        for r in range(rounds):
            ids = [r * width + k + 1 for k in range(width)]
            t = time.perf_counter()
            loop = asyncio.get_running_loop()
            made = await asyncio.gather(*(loop.run_in_executor(pool, direct, i) for i in ids))
            direct_rates.append(sum(made) / (time.perf_counter() - t))
            t = time.perf_counter()
            made = await asyncio.gather(*(through_provider(i + 100) for i in ids))
            provider_rates.append(sum(made) / (time.perf_counter() - t))
        d, p = max(direct_rates), max(provider_rates)
        print(f"    {width:>7} {d:>13.1f} {p:>15.1f} {p / d:>6.2f}")
    pool.shutdown()
    await asyncio.to_thread(local_provider.shutdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--tokens", type=int, default=96, help="tokens per local answer")
    parser.add_argument("--rounds", type=int, default=3, help="local runs per width (best kept)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with stub_server() as base_url:
        asyncio.run(overhead(base_url, args.calls, args.concurrency))
    asyncio.run(local_speed(args.tokens, args.rounds))


if __name__ == "__main__":
    main()
