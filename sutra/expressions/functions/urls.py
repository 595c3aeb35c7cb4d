"""URLs, URNs, attachments and HTML: encoding, decoding and taking them apart."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import phonenumbers

from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.registry import Text, function

# Longer is no phone number; libphonenumber is not asked about it.
_MAX_PHONE = 50
# goflow's URN schemes, sorted (@urns lists them in this order); a URN of another scheme is
# not one.
URN_SCHEMES: tuple[str, ...] = (
    "discord",
    "ext",
    "facebook",
    "fcm",
    "freshchat",
    "instagram",
    "jiochat",
    "line",
    "mailto",
    "rocketchat",
    "slack",
    "tel",
    "telegram",
    "twitter",
    "twitterid",
    "viber",
    "vk",
    "webchat",
    "wechat",
    "whatsapp",
)
_URN = re.compile(r"([a-z]+):([^#?]+)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)
_CONTENT_TYPE = re.compile(r"[a-z]+/[-+.\w]+|geo", re.IGNORECASE)


def _parts(urn: str) -> tuple[str, str, str]:
    found = _URN.fullmatch(urn.strip())
    if found is None or found.group(1) not in URN_SCHEMES:
        raise ValueError(f"{urn} is not a valid URN")
    scheme, path, display = found.group(1), found.group(2), found.group(4) or ""
    if scheme in ("tel", "whatsapp") and not re.fullmatch(r"\+?\d{4,}", path):
        raise ValueError(f"{urn} is not a valid URN: bad phone number")
    return scheme, path, display


def _national(number: str) -> str:
    """A number as dialled in its country, from libphonenumber's metadata; one that is not a
    possible international number stays as it is.

    >>> _national("+250781234567"), _national("+919876543210"), _national("12345")
    ('0781 234 567', '098765 43210', '12345')
    """
    try:
        parsed = phonenumbers.parse(number[:_MAX_PHONE], None)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


@function
def url_encode(text: Text) -> str:
    """``text`` encoded for use in a URL.

    >>> show('@(url_encode("two & words"))')
    two%20%26%20words
    """
    return quote(text, safe="")


@function
def html_decode(text: Text) -> str:
    """``text`` with HTML entities decoded (a non-breaking space as a space).

    >>> show('@(html_decode("Red &amp; Blue"))')
    Red & Blue
    """
    return html.unescape(text).replace("\xa0", " ")


@function
def urn_parts(urn: Text) -> dict[str, str]:
    """The scheme, path and display of a URN.

    >>> show('@(urn_parts("tel:+593979012345"))')
    {display: , path: +593979012345, scheme: tel}
    >>> show('@(urn_parts("not a urn"))')
    ERROR
    """
    scheme, path, display = _parts(urn)
    return {"display": display, "path": path, "scheme": scheme}


@function
def attachment_parts(attachment: Text) -> dict[str, str]:
    """The content type and URL of an attachment (``image/jpeg:https://...``).

    >>> show('@(attachment_parts("image/jpeg:https://example.com/test.jpg"))')
    {content_type: image/jpeg, url: https://example.com/test.jpg}
    """
    kind, colon, url = attachment.partition(":")
    if colon and _CONTENT_TYPE.fullmatch(kind):
        return {"content_type": kind, "url": url}
    return {"content_type": "", "url": attachment}


@function
def format_urn(urn: Text) -> str:
    """A URN as a person would write it: a phone number as dialled in its country, otherwise
    its display name or path.

    >>> show('@(format_urn(contact.urn))')
    (202) 456-1111
    >>> show('@(format_urn("twitter:134252511151#billy_bob"))')
    billy_bob
    >>> show('@(format_urn(urns.mailto))')
    foo@bar.com
    >>> show('@(format_urn("NOT URN"))')
    ERROR
    """
    scheme, path, display = _parts(urn)
    if scheme == "tel":
        return _national(path)
    return display or path
