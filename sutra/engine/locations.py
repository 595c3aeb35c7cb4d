"""A location hierarchy (country > states > districts > wards), as goflow's location assets have
it, and the fuzzy search its ``has_state``, ``has_district`` and ``has_ward`` cases use.

A hierarchy is read from goflow's JSON: ``{"name": "Rwanda", "aliases": [...], "children":
[...]}``; a location's path is its names from the country down, ``Rwanda > Kigali City``.

>>> rwanda = Location.model_validate({"name": "Rwanda", "children": [
...     {"name": "Kigali City", "aliases": ["Kigali"], "children": [{"name": "Gasabo"}]}]})
>>> [place.path for place in rwanda.find_fuzzy("I live in kigali!", STATE)]
['Rwanda > Kigali City']
>>> [place.path for place in rwanda.find_fuzzy("Gasabo", DISTRICT)]
['Rwanda > Kigali City > Gasabo']
>>> rwanda.find_fuzzy("Boston", STATE)
[]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

STATE, DISTRICT, WARD = 1, 2, 3
# A contact's text is searched by its words and pairs of words: a long one is cut, so the
# search stays small whatever they send.
_MAX_TEXT = 1000
_NON_WORD = re.compile(r"\W+")


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, ignored_types=(cached_property,))

    name: str
    aliases: list[str] = []
    children: list[Location] = Field(default_factory=list)

    @cached_property
    def _by_name(self) -> dict[tuple[int, str], list[tuple[Location, str]]]:
        """Every place under this one by (level, lower-cased name or alias), with its path."""
        index: dict[tuple[int, str], list[tuple[Location, str]]] = {}

        def walk(place: Location, level: int, path: str) -> None:
            for name in {alias.strip().lower() for alias in [place.name, *place.aliases]}:
                index.setdefault((level, name), []).append((place, path))
            for child in place.children:
                walk(child, level + 1, f"{path} > {child.name}")

        walk(self, 0, self.name)
        return index

    def _named(self, name: str, level: int, parent: Placed | None) -> list[Placed]:
        return [
            Placed(place, path)
            for place, path in self._by_name.get((level, name.strip().lower()), [])
            if parent is None or path.startswith(parent.path + " > ")
        ]

    def find_fuzzy(self, text: str, level: int, parent: Placed | None = None) -> list[Placed]:
        """Places of ``level`` (under ``parent``) named in ``text``: the whole text, then the
        text without punctuation, then each word, then each pair of words (goflow's order)."""
        text = text[:_MAX_TEXT]
        for candidate in _candidates(text):
            found = self._named(candidate, level, parent)
            if found:
                return found
        return []


@dataclass(frozen=True)
class Placed:
    """A place found in a hierarchy, with its path."""

    place: Location
    path: str


def _candidates(text: str) -> Iterator[str]:
    yield text
    yield _NON_WORD.sub("", text).strip()
    words = [word for word in _NON_WORD.split(text) if word]
    yield from words
    for first, second in itertools.pairwise(words):
        yield f"{first} {second}"
