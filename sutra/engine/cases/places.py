"""Location case tests: a state, district or ward named in the text, found in the
organisation's location hierarchy (goflow's location assets; ``SUTRA_LOCATIONS_FILE``).

The value stored is the place's path, ``Rwanda > Kigali City > Gasabo``. A district is looked
for in the state the case names; without one, a district name that only one state has is
enough (a ward likewise in its district).

>>> from sutra.engine.cases.base import check
>>> from sutra.engine.locations import Location
>>> from sutra.engine.session import Environment
>>> gasabo = {"name": "Gasabo", "children": [{"name": "Gisozi"}]}
>>> rwanda = Location.model_validate({"name": "Rwanda", "children": [
...     {"name": "Kigali City", "aliases": ["Kigali"], "children": [gasabo]}]})
>>> env = Environment(locations=rwanda)
>>> check("has_state", "¡Kigali!", env=env), check("has_state", "Boston", env=env)
('Rwanda > Kigali City', None)
>>> check("has_district", "I live in gasabo", "kigali", env=env)
'Rwanda > Kigali City > Gasabo'
>>> check("has_ward", "Gisozi", "Gasabo", "Brooklyn", env=env), check("has_ward", "Gisozi", env=env)
(None, 'Rwanda > Kigali City > Gasabo > Gisozi')
>>> check("has_state", "Kigali")
'ERROR: the organisation has no locations (SUTRA_LOCATIONS_FILE)'
"""

from __future__ import annotations

from sutra.engine.cases.base import CaseError, CaseInput, Match, case_test
from sutra.engine.locations import DISTRICT, STATE, WARD, Location, Placed


def _hierarchy(case: CaseInput) -> Location:
    if case.env.locations is None:
        raise CaseError("the organisation has no locations (SUTRA_LOCATIONS_FILE)")
    return case.env.locations


def _within(
    places: Location, text: str, level: int, parents: list[str], parent_level: int
) -> Placed | None:
    """A place of ``level`` named in ``text``, under the parents the case names (state, then
    district); or, when the case names none, the only place of that name."""
    parent: Placed | None = None
    for depth, name in enumerate(parents):
        found = places.find_fuzzy(name, parent_level + depth, parent)
        if not found:
            parent = None
            break
        parent = found[0]
    if parent is not None:
        found = places.find_fuzzy(text, level, parent)
        if found:
            return found[0]
    if not any(name.strip() for name in parents[-1:]):
        found = places.find_fuzzy(text, level)
        if len(found) == 1:
            return found[0]
    return None


@case_test("has_state")
def has_state(case: CaseInput, args: list[str]) -> Match | None:
    found = _hierarchy(case).find_fuzzy(case.text, STATE)
    return Match(found[0].path) if found else None


@case_test("has_district")
def has_district(case: CaseInput, args: list[str]) -> Match | None:
    state = args[0] if args else ""
    found = _within(_hierarchy(case), case.text, DISTRICT, [state], STATE)
    return Match(found.path) if found else None


@case_test("has_ward")
def has_ward(case: CaseInput, args: list[str]) -> Match | None:
    district, state = [*args, "", ""][:2]
    found = _within(_hierarchy(case), case.text, WARD, [state, district], STATE)
    return Match(found.path) if found else None
