"""Language names and codes as flows write them: "hindi", "hi", "hin" are the same language."""

from __future__ import annotations

# (ISO 639-1, ISO 639-3) for the languages NGOs on Glific use most; other codes pass through.
_LANGUAGES: dict[str, tuple[str, str]] = {
    "english": ("en", "eng"),
    "hindi": ("hi", "hin"),
    "marathi": ("mr", "mar"),
    "tamil": ("ta", "tam"),
    "telugu": ("te", "tel"),
    "kannada": ("kn", "kan"),
    "bengali": ("bn", "ben"),
    "gujarati": ("gu", "guj"),
    "punjabi": ("pa", "pan"),
    "urdu": ("ur", "urd"),
    "odia": ("or", "ori"),
    "malayalam": ("ml", "mal"),
    "assamese": ("as", "asm"),
    "spanish": ("es", "spa"),
    "french": ("fr", "fra"),
    "portuguese": ("pt", "por"),
    "swahili": ("sw", "swa"),
    "arabic": ("ar", "ara"),
}
_BY_CODE = {code: names for names in _LANGUAGES.values() for code in names}


def normalize_language(language: str) -> str:
    """The ISO 639-1 code where one is known, else the value as written (lower case).

    >>> normalize_language("Hindi"), normalize_language("hin"), normalize_language("xx")
    ('hi', 'hi', 'xx')
    """
    key = language.strip().lower()
    if key in _LANGUAGES:
        return _LANGUAGES[key][0]
    if key in _BY_CODE:
        return _BY_CODE[key][0]
    return key


def language_name(language: str) -> str:
    """The English name of a language written as a name or a code, else the value as written.

    >>> language_name("hin"), language_name("ta"), language_name("Hindi"), language_name("xx")
    ('Hindi', 'Tamil', 'Hindi', 'xx')
    """
    code = normalize_language(language)
    for name, codes in _LANGUAGES.items():
        if code == codes[0]:
            return name.capitalize()
    return language.strip()


def language_keys(language: str | None) -> list[str]:
    """Keys a flow's ``localization`` may use for ``language``.

    >>> language_keys("hindi")
    ['hi', 'hin', 'hindi']
    """
    if not language:
        return []
    key = language.strip().lower()
    codes = _LANGUAGES.get(key) or _BY_CODE.get(key) or (key,)
    return list(dict.fromkeys([*codes, key]))
