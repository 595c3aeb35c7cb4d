"""The Graph API stand-in, noting when each recipient's sends arrive, without polling.

bench/server.py used to copy ``graph.sent`` (every request the stand-in ever recorded) every
2 ms to spot new sends, which starved the stand-ins of the GIL as the list grew. Here the
stand-in itself notes each accepted send as it answers it, in a dict of arrival times per
recipient, and wakes whoever waits for a count once it is reached::

    with WatchedGraphAPI() as graph:
        done = graph.expect(numbers, 2)  # before the load, so no arrival is missed
        run(port, requests, connections=50)
        finished = done.wait(timeout=300)  # monotonic time of the last needed arrival
        latency = graph.arrivals[numbers[0]][1] - sent_at

Run ``.venv/bin/python bench/sendwatch.py`` for a self-test.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import threading
import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sutra.testing.graph_api import GraphAPIStubServer


class Target:
    """Waits until every recipient in a set has had ``count`` accepted sends."""

    def __init__(self, recipients: Iterable[str], count: int) -> None:
        self.recipients = list(recipients)
        self.count = count
        self.pending = set(self.recipients)
        self.finished_at = 0.0
        self.done = threading.Event()

    def wait(self, timeout: float) -> float:
        """Blocks until reached; returns the monotonic time the last needed send arrived."""
        if not self.done.wait(timeout):
            raise TimeoutError(
                f"{len(self.pending)} of {len(self.recipients)} recipients "
                f"still short of {self.count} sends after {timeout:g} s"
            )
        return self.finished_at

    async def wait_async(self, timeout: float) -> float:
        return await asyncio.to_thread(self.wait, timeout)


class WatchedGraphAPI(GraphAPIStubServer):
    """:class:`GraphAPIStubServer` that also keeps ``arrivals``: recipient -> the monotonic
    times its accepted sends (HTTP 200) reached the stand-in, earliest first. Refused sends (bad
    token, planned errors, invalid bodies) are not counted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: dict[str, list[float]] = {}
        self.accepted = 0
        self._lock = threading.Lock()
        self._targets: list[Target] = []

    def expect(self, recipients: Iterable[str], count: int) -> Target:
        """A :class:`Target` for ``count`` accepted sends to each recipient (earlier ones count)."""
        target = Target(recipients, count)
        with self._lock:
            target.pending = {r for r in target.pending if len(self.arrivals.get(r, ())) < count}
            if target.pending:
                self._targets.append(target)
            else:
                self._finish(target)
        return target

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.arrivals.clear()
            self.accepted = 0

    def _make_app(self) -> FastAPI:
        app = super()._make_app()
        app.add_middleware(_Watch, graph=self)
        return app

    def _accepted(self, raw: bytes, arrived: float) -> None:
        body = json.loads(raw)
        recipient = str(body.get("to") or body.get("recipient") or "")
        with self._lock:
            self.accepted += 1
            times = self.arrivals.setdefault(recipient, [])
            # Noted as answered, which under load is not quite the order they arrived in.
            bisect.insort(times, arrived)
            for target in self._targets:
                if len(times) >= target.count and recipient in target.pending:
                    target.pending.discard(recipient)
                    if not target.pending:
                        self._finish(target)
            if any(t.done.is_set() for t in self._targets):
                self._targets = [t for t in self._targets if not t.done.is_set()]

    def _finish(self, target: Target) -> None:
        target.finished_at = max(
            (self.arrivals[r][target.count - 1] for r in target.recipients), default=0.0
        )
        target.done.set()


class _Watch:
    """Pure ASGI middleware on the send route only: keeps the request body it passes on and
    the status the app answers, at the cost of two wrapper calls per send."""

    def __init__(self, app: ASGIApp, graph: WatchedGraphAPI) -> None:
        self.app = app
        self.graph = graph

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith("/messages")
        ):
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        chunks: list[bytes] = []
        status = 0

        async def receive_body() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive_body, send_status)
        if status == 200:
            self.graph._accepted(b"".join(chunks), arrived)


# --- self-test ---------------------------------------------------------------------------------


def main() -> None:
    from loadgen import build_request, run, throughput

    numbers = [f"91{i:010d}" for i in range(2_000)]
    with WatchedGraphAPI() as graph:
        path = f"/{graph.version}/106540352242922/messages"

        def send(to: str, token: str = graph.access_token) -> bytes:
            body = {"messaging_product": "whatsapp", "to": to, "text": {"body": "hi"}}
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            return build_request(graph.port, path, json.dumps(body).encode(), headers)

        first = graph.expect(numbers, 1)
        second = graph.expect(numbers, 2)
        # Refused sends that must not count: a wrong token, and two planned errors.
        graph.plan_error(400, 131047, "Re-engagement message")
        graph.plan_error(400, 131047, "Re-engagement message")
        refused = run(
            graph.port, [send(numbers[0]), send(numbers[1], "wrong"), send(numbers[2])], 1
        )
        assert [r.status for r in refused] == [400, 401, 400], refused
        results = run(graph.port, [send(n) for n in numbers], connections=50)
        first.wait(10)
        assert not second.done.is_set()
        print(f"round 1: {throughput(results):6.0f} sends/s, {graph.accepted} accepted")
        assert graph.accepted == len(numbers), graph.accepted

        results = run(graph.port, [send(n) for n in numbers], connections=50)
        finished = second.wait(10)
        assert all(len(graph.arrivals[n]) == 2 for n in numbers)
        assert finished <= max(r.acked for r in results)
        print(f"round 2: {throughput(results):6.0f} sends/s, {graph.accepted} accepted")
        assert graph.expect(numbers, 2).wait(0) == finished  # already reached
        single = run(graph.port, [send("1"), send("1"), send("1")], connections=1)
        assert single[-1].latency < 0.01, "Nagle is on: see sutra.testing.loopback"
        print(f"stand-in recorded {len(graph.sends)} send requests, refused ones included")


if __name__ == "__main__":
    main()
