"""The HTTP client every outbound call uses: LLM calls, WhatsApp and Gupshup sends, webhooks,
images.

httpx's API over aiohttp's connection handling. Measured on this project's 2-core machine
(50 concurrent posts to a loopback server): httpx's own connection pool costs ~3 ms of CPU per
request, httpx over aiohttp ~0.8 ms, and every message makes at least two such calls (the LLM
and the send). Code and tests keep speaking httpx (``MockTransport`` included).
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver
from httpx_aiohttp import AiohttpTransport

from sutra.runtime.working import away


class _Transport(AiohttpTransport):
    """httpx-aiohttp reports a refused connection as a connect *timeout*; callers tell "could
    not connect" from "did not answer", so it is put right here."""

    def __init__(self, *, resolver: AbstractResolver | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resolver = resolver

    def get_client(self) -> aiohttp.ClientSession:
        if self._resolver is None:
            return super().get_client()
        # httpx-aiohttp's connector, with the resolver that addresses are taken from.
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 0,
            resolver=self._resolver,
        )
        return aiohttp.ClientSession(connector=connector)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Waiting on the other end is when a contact gives its CPU turn away: what the
        # caller does before and after (an SDK building the request, reading the answer)
        # is CPU work, done in turn (see sutra.runtime.working).
        async with away():
            return await self._exchange(request)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._handle(request)
        except httpx.TransportError as exc:
            # A kept-alive connection the server closed as we began writing on it: the
            # request never went out whole, so the server cannot have acted on it, and a
            # fresh connection gets it through now instead of after a send's retry delay.
            if not (_unwritten(exc) and isinstance(request.stream, httpx.ByteStream)):
                raise
            return await self._handle(request)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
                raise httpx.ConnectError(str(cause), request=request) from cause
            if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
                cause, aiohttp.ServerTimeoutError
            ):
                raise httpx.ReadError(str(cause), request=request) from cause
            raise


def _unwritten(exc: BaseException) -> bool:
    """aiohttp failed to write the request (its ``ClientOSError`` says so in its message; the
    type alone also covers errors after the request went out)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientOSError) and "write request body" in str(cause):
            return True
        cause = cause.__cause__
    return False


@cache
def _tls() -> ssl.SSLContext:
    """The TLS settings every client shares: each new context loads the CA bundle again
    (~60 ms of CPU), and one context serves any number of connections."""
    return httpx.create_ssl_context()


def transport(
    *, limits: httpx.Limits | None = None, resolver: AbstractResolver | None = None
) -> httpx.AsyncBaseTransport:
    """The aiohttp transport; ``resolver`` (default: aiohttp's) turns host names into the
    addresses connected to."""
    return _Transport(
        verify=_tls(), limits=limits or httpx.Limits(max_connections=200), resolver=resolver
    )


def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on the aiohttp transport; keyword arguments as httpx's."""
    return httpx.AsyncClient(transport=transport(limits=kwargs.pop("limits", None)), **kwargs)
