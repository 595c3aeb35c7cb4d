"""The shared HTTP client: a request cut off before it was written goes again at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from sutra import http


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback HTTP/1.1 server that answers every request 200 and keeps what it got."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            received.append(await reader.readexactly(length))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/messages", received
    listener.close()


def _cut_off_once(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[int]:
    """The first request fails inside aiohttp with ``error``, as on a connection the server
    closed while it was kept alive; later ones go through."""
    real = AiohttpTransport.handle_async_request
    calls: list[int] = []

    async def flaky(self: AiohttpTransport, request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadError(str(error), request=request) from error
        return await real(self, request)

    monkeypatch.setattr(AiohttpTransport, "handle_async_request", flaky)
    return calls


async def test_a_request_cut_off_before_it_was_written_is_sent_once_more(
    server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = server
    unwritten = aiohttp.ClientOSError(32, f"Can not write request body for {url}")
    calls = _cut_off_once(monkeypatch, unwritten)
    async with http.async_client() as client:
        response = await client.post(url, json={"text": "hello"})
    assert response.status_code == 200
    assert len(calls) == 2
    assert received == [b'{"text":"hello"}']


async def test_a_request_lost_after_it_went_out_is_not_sent_again(
    server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once written, the server may have acted on it (a WhatsApp message sent): only the
    # caller, who knows whether repeating is safe, may try again.
    url, received = server
    calls = _cut_off_once(monkeypatch, aiohttp.ServerDisconnectedError())
    async with http.async_client() as client:
        with pytest.raises(httpx.TransportError):
            await client.post(url, json={"text": "hello"})
    assert len(calls) == 1
    assert received == []
