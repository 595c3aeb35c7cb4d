"""A lean HTTP/1.1 load generator: persistent connections, requests serialized before the clock.

httpx spends 3-7 ms of CPU per request, more than a fast server; this spends tens of
microseconds, so a benchmark measures the server and not its client. Each connection carries
one request at a time (no pipelining) and the next request goes to whichever connection is
free first, so ``connections`` is the number of requests in flight::

    requests = [webhook_request(SECRET, whatsapp_text_payload(n, "hi"), port) for n in numbers]
    results = run(port, requests, connections=50)
    print(throughput(results), "req/s")

Run ``.venv/bin/python bench/loadgen.py`` for a self-test against a trivial server in another
process, which prints the client's own CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sutra.testing.graph_api import signed_webhook, whatsapp_text_payload

T = TypeVar("T")

# A request is retried on a fresh connection when its connection drops before the answer: a
# keep-alive connection the server closed while idle looks exactly like that.
ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Result:
    """One request: its HTTP status (0 if it never got an answer) and monotonic times."""

    status: int
    sent: float
    acked: float

    @property
    def latency(self) -> float:
        return self.acked - self.sent


def build_request(
    port: int, path: str, body: bytes, headers: Mapping[str, str], *, host: str = "127.0.0.1"
) -> bytes:
    """The full bytes of ``POST path`` with ``body``, ready to write to a socket."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def webhook_request(
    secret: str, payload: Any, port: int, *, path: str = "/webhooks/whatsapp"
) -> bytes:
    """A WhatsApp webhook POST signed with ``secret``, as Meta would send it."""
    raw, headers = signed_webhook(secret, payload)
    return build_request(port, path, raw, headers)


async def post_all(host: str, port: int, requests: list[bytes], connections: int) -> list[Result]:
    """Send every request over ``connections`` keep-alive connections; results in order."""
    results: list[Result | None] = [None] * len(requests)
    # Shared by every connection: each next() hands out a distinct request.
    todo = iter(range(len(requests)))
    # Connected before the first request goes out, so connection setup is not in the timings.
    streams = await asyncio.gather(
        *(asyncio.open_connection(host, port) for _ in range(min(connections, len(requests))))
    )
    await asyncio.gather(*(_connection(host, port, s, requests, results, todo) for s in streams))
    return [r if r is not None else Result(0, 0.0, 0.0) for r in results]


def run(
    port: int,
    requests: list[bytes],
    connections: int,
    *,
    host: str = "127.0.0.1",
    timeout: float = 600.0,
) -> list[Result]:
    """:func:`post_all` from synchronous code, on uvloop when it is installed."""
    return run_coroutine(asyncio.wait_for(post_all(host, port, requests, connections), timeout))


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed: a cheaper client loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def throughput(results: list[Result]) -> float:
    """Requests per second, from the first request sent to the last one answered."""
    return len(results) / (max(r.acked for r in results) - min(r.sent for r in results))


def percentile(results: list[Result], fraction: float) -> float:
    latencies = sorted(r.latency for r in results)
    return latencies[min(len(latencies) - 1, int(len(latencies) * fraction))]


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connection(
    host: str,
    port: int,
    streams: Streams | None,
    requests: list[bytes],
    results: list[Result | None],
    todo: Iterator[int],
) -> None:
    for index in todo:
        sent = time.monotonic()
        status = 0
        for _ in range(ATTEMPTS):
            try:
                if streams is None:
                    streams = await asyncio.open_connection(host, port)
                streams[1].write(requests[index])
                status, keep = await _read_response(streams[0])
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                keep = False
            if not keep and streams is not None:
                streams[1].close()
                streams = None
            if status:
                break
        results[index] = Result(status, sent, time.monotonic())
    if streams is not None:
        streams[1].close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of the next response, its body read and dropped; and if the connection stays."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    keep = b"\r\nconnection: close" not in head
    start = head.find(b"\r\ncontent-length:")
    if start >= 0:
        end = head.index(b"\r\n", start + 2)
        await reader.readexactly(int(head[start + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in head:
        while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
            await reader.readexactly(size + 2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
    elif status >= 200 and status not in (204, 304):
        await reader.read()  # no length given: the body runs to the end of the connection
        keep = False
    return status, keep


# --- self-test ---------------------------------------------------------------------------------


class _TrivialServer(asyncio.Protocol):
    """Answers every request at once, in turn with a length, chunked, and closing the connection
    (every 97th), so the self-test covers each way the client reads an answer."""

    answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            start = head.find(b"content-length:")
            stop = head.find(b"\r\n", start)
            length = int(head[start + 15 : stop if stop >= 0 else None]) if start >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            _TrivialServer.answered += 1
            count = _TrivialServer.answered
            if count % 97 == 0:
                self.transport.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye")
                self.transport.close()
                return
            if count % 2:
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            else:
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
                )


async def _serve_trivial() -> None:
    server = await asyncio.get_running_loop().create_server(
        _TrivialServer, "127.0.0.1", 0, backlog=4096
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def _measure(port: int, requests: list[bytes], connections: int, loop: str) -> None:
    started = time.process_time()
    if loop == "uvloop":
        results = run(port, requests, connections)
    else:
        results = asyncio.run(post_all("127.0.0.1", port, requests, connections))
    cpu = time.process_time() - started
    bad = sum(r.status != 200 for r in results)
    print(
        f"{loop:7}  {len(results)} requests, {connections} connections:"
        f" {throughput(results):8.0f} req/s   client CPU {cpu / len(results) * 1e3:.3f} ms/req"
        f"   p50 {percentile(results, 0.5) * 1e3:.2f} ms   non-200: {bad}"
    )
    if bad:
        raise SystemExit("some requests failed")


def main() -> None:
    parser = argparse.ArgumentParser(description="Self-test against a trivial server.")
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve_trivial())
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        requests = [
            webhook_request("s", whatsapp_text_payload(f"91{i:010d}", "hello"), port)
            for i in range(args.n)
        ]
        print(f"request size {len(requests[0])} bytes")
        _measure(port, requests, args.connections, "asyncio")
        if importlib.util.find_spec("uvloop"):
            _measure(port, requests, args.connections, "uvloop")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
