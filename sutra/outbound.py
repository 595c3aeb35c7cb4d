"""What a flow may make Sutra fetch: the outbound fetch policy.

Flow authors, and contacts through their answers, choose the URLs of HTTP webhooks and of the
images ``parse_via_gpt_vision`` reads. Left open, ``http://169.254.169.254/...`` (cloud
metadata) or ``http://127.0.0.1:8080/admin`` would put internal answers into a contact's chat or
an LLM prompt. So those fetches go through :func:`guarded_client`, which refuses any address
that is not public unless ``SUTRA_FETCH_ALLOW`` names it. Endpoints staff configure (the
channels' APIs, the LLM provider) do not go through it.

The check is made on the addresses that are connected to, not on the URL's text:

* a numeric host (``127.0.0.1``, ``2130706433``, ``0x7f000001``, ``[::ffff:127.0.0.1]``) is
  parsed by the system's resolver, as the connection would, and checked before the request:
  aiohttp connects to such hosts without resolving them;
* a name is resolved by the connection's own resolver, which refuses forbidden addresses, and
  aiohttp connects to the addresses it returned: a name cannot answer a public address to the
  check and a private one to the connection (DNS rebinding).

Each redirect is a new request through the same transport, so it is checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from aiohttp.resolver import ThreadedResolver

from sutra.config import get_settings
from sutra.http import transport

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Enough for a service that moved (http -> https, a new path); a chain longer than this is
# more likely a loop or a probe.
MAX_REDIRECTS = 5

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


class FetchRefused(httpx.TransportError):
    """The policy refused the address; the message says which and why.

    An httpx error, so code that handles failed requests handles this one too."""


class _AddressRefused(OSError):
    """Raised inside aiohttp's resolver (which must raise ``OSError``); becomes FetchRefused."""


def classify(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is, or ``None`` for a public one.

    Addresses that carry an IPv4 address (IPv4-mapped, 6to4, NAT64) are judged by it.

    >>> [classify(ipaddress.ip_address(a)) for a in ("8.8.8.8", "::ffff:10.0.0.1", "fe80::1")]
    [None, 'a private address', 'a link-local address']
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return classify(embedded)
        if address.is_site_local:
            return "a site-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        # 169.254.169.254 answers cloud credentials on AWS, GCP and Azure.
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class FetchPolicy:
    """Public addresses, plus the host names and networks an NGO lets through."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, allow: str) -> FetchPolicy:
        """The policy for ``SUTRA_FETCH_ALLOW``: host names, addresses and networks, by commas.

        >>> FetchPolicy.parse("crm.internal, 10.1.0.0/16").networks
        (IPv4Network('10.1.0.0/16'),)
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (part.strip() for part in allow.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = _name(entry)
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"SUTRA_FETCH_ALLOW: {entry!r} is not a host name, address or network"
                )
            hosts.add(name)
        return cls(frozenset(hosts), tuple(networks))

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why ``host``, found at ``address``, may not be fetched; ``None`` when it may."""
        if _name(host) in self.hosts:
            return None
        # ::ffff:10.0.0.1 is 10.0.0.1 on the wire: allowed, and named, as such.
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        forms = [address] if mapped is None else [address, mapped]
        if any(form in network for form in forms for network in self.networks):
            return None
        kind = classify(address)
        if kind is None:
            return None
        shown = mapped or address
        if _name(host) == str(shown):
            return f"refused: {shown} is {kind}"
        return f"refused: {host} is {shown}, {kind}"


def _name(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")


async def check_numeric(host: str, policy: FetchPolicy) -> str | None:
    """The refusal for a numeric ``host``; ``None`` for an allowed one or for a name (the
    resolver checks names)."""
    loop = asyncio.get_running_loop()
    try:
        # The resolver's own reading of the numbers: decimal, octal and hex IPv4 included.
        infos = await loop.getaddrinfo(
            host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )
    except socket.gaierror:
        if is_ip_address(host):
            # aiohttp would hand it to the socket as it is, unresolved and so unchecked.
            return f"refused: {host} is not an address"
        return None
    for info in infos:
        reason = policy.refusal(host, ipaddress.ip_address(info[4][0]))
        if reason:
            return reason
    return None


class PolicyResolver(AbstractResolver):
    """aiohttp's threaded resolver (``loop.getaddrinfo``), refusing forbidden addresses."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._inner: ThreadedResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # Made here: ThreadedResolver needs the running loop.
        self._inner = self._inner or ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = self.policy.refusal(host, ipaddress.ip_address(result["host"]))
            if reason:
                raise _AddressRefused(reason)
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


class _GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, policy: FetchPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reason = await check_numeric(request.url.host, self._policy)
        if reason:
            raise FetchRefused(reason, request=request)
        try:
            return await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            refused = _refused_cause(exc)
            if refused is None:
                raise
            raise FetchRefused(str(refused), request=request) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


def _refused_cause(exc: BaseException) -> _AddressRefused | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _AddressRefused):
            return cause
        cause = cause.__cause__ or getattr(cause, "os_error", None)
    return None


def guarded_client(policy: FetchPolicy | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client for URLs flows choose; ``policy`` defaults to ``SUTRA_FETCH_ALLOW``'s."""
    if policy is None:
        policy = FetchPolicy.parse(get_settings().fetch_allow)
    inner = transport(resolver=PolicyResolver(policy))
    kwargs.setdefault("max_redirects", MAX_REDIRECTS)
    return httpx.AsyncClient(transport=_GuardedTransport(inner, policy), **kwargs)
