"""How the pages show a message's attachment: typed ``"<mime>:<url>"``, as WhatsApp gets it.

A flow may send an attachment without a type: the flow editor's ``expression:`` form (Glific's
``expression:@results.x.media_url``, a spoken answer) or a bare link. The channels type those
from the URL's extension (:func:`sutra.channels.whatsapp.parse_attachment`); the chat and the
simulator do the same, so a spoken answer plays there as it would on the phone.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from urllib.parse import urlsplit

_LINK = ("http://", "https://", "/")
# Voice notes, whatever /etc/mime.types says (Python's own table lacks .ogg and .m4a).
_AUDIO = {".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4"}


def typed(attachment: str) -> str:
    """``attachment`` with its type, when it has none and its URL's extension names one.

    >>> typed("expression:https://x.org/media/ab.ogg"), typed("expression:/media/ab.ogg")
    ('audio/ogg:https://x.org/media/ab.ogg', 'audio/ogg:/media/ab.ogg')
    >>> typed("https://x.org/cat.png"), typed("expression:image/jpeg:https://x.org/a")
    ('image/png:https://x.org/cat.png', 'image/jpeg:https://x.org/a')
    >>> typed("image:https://x.org/t"), typed("geo:12.9,77.5"), typed("https://x.org/file")
    ('image:https://x.org/t', 'geo:12.9,77.5', 'https://x.org/file')
    """
    text = attachment.strip()
    kind, _, rest = text.partition(":")
    if kind.lower() == "expression":
        text = rest.strip()
    if not text.startswith(_LINK):
        return text
    path = urlsplit(text).path
    mime = _AUDIO.get(PurePosixPath(path).suffix.lower()) or mimetypes.guess_type(path)[0]
    return f"{mime}:{text}" if mime else text
