"""What every step of a legacy migration shares: stable uuids, translated texts, notes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sutra.flows.legacy.expressions import migrate_template
from sutra.flows.validate import FlowIssue

# Migrating the same file twice gives the same flow, so a re-import is "unchanged" and a
# session waiting at a migrated node still finds it.
_NAMESPACE = uuid.UUID("5e1f7a2c-27b9-4f5e-9a51-6c0d1b7e4a90")


def stable_uuid(*parts: object) -> str:
    """A uuid made from ``parts``: the same parts, the same uuid.

    >>> stable_uuid("flow", 2805) == stable_uuid("flow", 2805) != stable_uuid("flow", 2806)
    True
    """
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(part) for part in parts)))


def text_of(value: Any) -> str:
    """A scalar from a legacy file as text (numbers in tests are numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, str | int | float) else ""


def list_of(value: Any) -> list[Any]:
    """``value`` if it is a list; a legacy file may hold anything where a list belongs."""
    return value if isinstance(value, list) else []


@dataclass
class Texts:
    """One translatable text of a legacy flow: ``{"eng": "Hi", "fra": "Salut"}``."""

    base: str
    translations: dict[str, str] = field(default_factory=dict)


def texts(value: Any, base_language: str) -> Texts:
    """The text in the flow's base language and its translations.

    A plain string is the base text; so is the ``"base"`` entry when the base language has none.

    >>> texts({"eng": "Hi", "fra": "Salut", "base": "Hey"}, "eng")
    Texts(base='Hi', translations={'fra': 'Salut'})
    >>> texts("Hi", "eng"), texts({"spa": "Hola"}, "eng")
    (Texts(base='Hi', translations={}), Texts(base='Hola', translations={}))
    """
    if not isinstance(value, dict):
        return Texts(text_of(value))
    entries = {str(k): text_of(v) for k, v in value.items() if not isinstance(v, dict | list)}
    if base_language in entries:
        base = entries[base_language]
    elif "base" in entries:
        base = entries["base"]
    else:
        # Untranslated into the base language: the only text there is stands in for it.
        return Texts(next(iter(entries.values()), ""))
    translations = {
        language: text
        for language, text in entries.items()
        if language not in (base_language, "base") and text
    }
    return Texts(base, translations)


class Localization:
    """The ``localization`` section being built: ``{language: {uuid: {key: [texts]}}}``."""

    def __init__(self) -> None:
        self.languages: dict[str, dict[str, dict[str, list[str]]]] = {}

    def add(self, language: str, item_uuid: str, key: str, values: list[str]) -> None:
        self.languages.setdefault(language, {}).setdefault(item_uuid, {})[key] = values

    def text(self, item_uuid: str, key: str, value: Texts, *, migrate: bool = True) -> str:
        """Record ``value``'s translations under ``item_uuid``; returns the base text."""
        for language, translated in value.translations.items():
            self.add(
                language, item_uuid, key, [migrate_template(translated) if migrate else translated]
            )
        return migrate_template(value.base) if migrate else value.base


@dataclass
class Notes:
    """Problems found while migrating, each named by its path in the file as it came."""

    warnings: list[FlowIssue] = field(default_factory=list)
    errors: list[FlowIssue] = field(default_factory=list)

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(FlowIssue(_shown(path), message))

    def error(self, path: str, message: str) -> None:
        self.errors.append(FlowIssue(_shown(path), message))


def _shown(path: str) -> str:
    # Paths are built as prefix + ".key"; a bare definition has no prefix.
    return path.lstrip(".") or "$"
