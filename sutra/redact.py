"""Masking secrets carried in URLs, for everything Sutra writes down: logs, webhook logs, exports.

Providers and flow authors put credentials in query strings (Gupshup's ``?token=``, Meta's
``hub.verify_token``, ``?api_key=`` on a flow's webhook), and a URL is written down in many
places. One rule decides what is a secret, so the server's log and the webhook log agree:
a parameter whose name mentions a token, key, secret, password, signature, auth or cookie.
That is a little too eager (``keyword=`` is masked too), which costs a log reader a value;
the opposite mistake costs a credential.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"

_SECRET_NAME = re.compile(
    r"auth|token|secret|key|passw(or)?d|pwd|signature|cookie|credential|^sig$|^code$",
    re.IGNORECASE,
)
# A parameter inside free text: after "?", "&" or ";" up to the next separator, quote,
# backslash (an escape in a JSON log line) or whitespace. Query values are percent-encoded,
# so a real value never holds those characters.
_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#?\s\"'\\<>]+)=(?P<value>[^&;#\s\"'\\<>]*)")


def is_secret_name(name: str) -> bool:
    """Whether a parameter, header or field called ``name`` holds a credential.

    >>> [is_secret_name(n) for n in ("token", "hub.verify_token", "apiKey", "q", "next")]
    [True, True, True, False, False]
    """
    return bool(_SECRET_NAME.search(name))


def _mask(match: re.Match[str]) -> str:
    if not match["value"] or not is_secret_name(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with the secret query parameters of every URL in it masked.

    >>> redact_text('"POST /webhooks/gupshup?token=s3cr3t&x=1 HTTP/1.1" 200')
    '"POST /webhooks/gupshup?token=[redacted]&x=1 HTTP/1.1" 200'
    >>> redact_text("GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=abc")
    'GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=[redacted]'
    """
    if "=" not in text:
        return text
    return _PARAMETER.sub(_mask, text)


def redact_url(url: str) -> str:
    """``url`` with its secret query parameters and any password in it masked.

    >>> redact_url("https://user:pw@api.example/v1?api_key=k&q=hi#frag")
    'https://user:[redacted]@api.example/v1?api_key=[redacted]&q=hi#frag'
    >>> redact_url("parse_via_chat_gpt")
    'parse_via_chat_gpt'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host: still mask what looks like a secret
        return redact_text(url)
    netloc = parts.netloc
    if parts.password:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{REDACTED}@{host}"
    query = redact_text(f"?{parts.query}")[1:] if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
