"""``parse_via_gpt_vision``: ask a vision model about an image (contract section 7).

The image is fetched here and sent inline as a base64 data URL, as Glific does: WhatsApp media
URLs are short-lived or need credentials the model's servers do not have.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from sutra.config import get_settings
from sutra.functions.download import download
from sutra.functions.gpt import (
    DEFAULT_MODEL,
    decode_reply,
    parse_response_format,
    parse_temperature,
)
from sutra.functions.llmcall import complete
from sutra.functions.registry import FunctionCall, FunctionError, function

# What OpenAI's vision models accept, recognised by their first bytes: a server's Content-Type
# is often generic (application/octet-stream) or wrong.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)
_GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream", "")


def image_type(data: bytes) -> str | None:
    """The image's media type from its first bytes, or ``None`` for anything else.

    >>> image_type(b"\\x89PNG\\r\\n\\x1a\\n...."), image_type(b"RIFF\\x00\\x00\\x00\\x00WEBPVP8 ")
    ('image/png', 'image/webp')
    >>> image_type(b"<html>") is None
    True
    """
    for magic, offset, media_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if media_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return media_type
    return None


async def fetch_image(
    url: str, *, client: httpx.AsyncClient | None, max_bytes: int, timeout: float
) -> tuple[bytes, str]:
    """Download an image, refusing non-images, anything over ``max_bytes`` and addresses the
    fetch policy forbids; all of it within ``timeout``.

    Reasons never quote the URL: WhatsApp media URLs carry access tokens.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise FunctionError("url should be an http(s) link to an image", status=400)

    def accept(declared: str) -> None:
        if not declared.startswith("image/") and declared not in _GENERIC_TYPES:
            raise FunctionError(f"the url is not an image ({declared})", status=415)

    data, _ = await download(
        url, what="image", client=client, max_bytes=max_bytes, timeout=timeout, accept=accept
    )
    media_type = image_type(data[:16])
    if media_type is None:
        raise FunctionError("the image is not a JPEG, PNG, GIF or WebP file", status=415)
    return data, media_type


@function(
    "parse_via_gpt_vision",
    body={"url": "@results.image", "prompt": "", "model": "gpt-4o"},
    example={"success": True, "response": "A child reading a book under a tree."},
)
async def parse_via_gpt_vision(call: FunctionCall) -> dict[str, Any]:
    """Ask a vision model ``prompt`` about the image at ``url``.

    The answer is ``response``; decoded when it is a JSON object or array (``response_format``).
    """
    fields = call.fields
    url = str(fields.get("url") or "").strip()
    if not url:
        raise FunctionError("url is empty", status=400)
    prompt = str(fields.get("prompt") or "").strip() or "Describe this image."
    model = str(fields.get("model") or DEFAULT_MODEL).strip()
    response_format = parse_response_format(fields.get("response_format"))
    temperature = parse_temperature(fields.get("temperature"))
    config = get_settings()
    data, media_type = await fetch_image(
        url,
        client=call.services.http,
        max_bytes=config.vision_max_bytes,
        timeout=config.vision_fetch_timeout,
    )
    data_url = f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": data_url}},
            ],
        }
    ]
    completion = await complete(
        call,
        messages,
        function="parse_via_gpt_vision",
        model=model,
        temperature=temperature,
        response_format=response_format,
    )
    return {"success": True, "response": decode_reply(completion.text)}
