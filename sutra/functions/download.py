"""Fetching what a flow points a function at (an image, a voice note): through the fetch
policy, within a time and a size, every failure a :class:`FunctionError` that says why.

Reasons never quote the URL: WhatsApp media URLs carry access tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from sutra.functions.registry import FunctionError
from sutra.outbound import FetchRefused, guarded_client


def too_big(what: str, max_bytes: int) -> str:
    """
    >>> too_big("image", 5_000_000)
    'the image is larger than 5,000,000 bytes'
    """
    return f"the {what} is larger than {max_bytes:,} bytes"


async def download(
    url: str,
    *,
    what: str,
    client: httpx.AsyncClient | None,
    max_bytes: int,
    timeout: float,
    accept: Callable[[str], None] | None = None,
) -> tuple[bytes, str]:
    """The body at ``url`` and its declared media type (lower case, no parameters).

    ``accept`` sees the declared type before the body is read and raises to refuse it.
    """
    owned = client is None
    http = client or guarded_client()
    try:
        async with (
            asyncio.timeout(timeout),
            http.stream("GET", url, timeout=timeout, follow_redirects=True) as response,
        ):
            if not 200 <= response.status_code < 300:
                raise FunctionError(
                    f"could not fetch the {what}: HTTP {response.status_code}", status=502
                )
            declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if accept is not None:
                accept(declared)
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise FunctionError(too_big(what, max_bytes), status=413)
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                # Checked while reading: a missing or false Content-Length must not let a
                # huge body into memory.
                if len(data) > max_bytes:
                    raise FunctionError(too_big(what, max_bytes), status=413)
    except (TimeoutError, httpx.TimeoutException):
        raise FunctionError(f"the {what} did not arrive within {timeout:g} s", status=504) from None
    except FetchRefused as exc:
        raise FunctionError(str(exc), status=403) from None
    except httpx.HTTPError as exc:
        raise FunctionError(
            f"could not fetch the {what}: {type(exc).__name__}", status=502
        ) from None
    finally:
        if owned:
            await http.aclose()
    return bytes(data), declared
