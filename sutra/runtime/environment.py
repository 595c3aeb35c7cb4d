"""The engine's :class:`Environment` from Sutra's settings: the organisation's time zone, date
and number formats, default country and location hierarchy.

>>> from sutra.config import Settings
>>> env = environment_from_settings(Settings(date_format="MM-DD-YYYY", default_country="in"))
>>> env.date_format, env.default_country, env.locations is None
('MM-DD-YYYY', 'IN', True)
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from sutra.config import Settings
from sutra.engine.locations import Location
from sutra.engine.session import Environment

# A country's hierarchy with every ward is a few megabytes; more is not a locations file.
_MAX_LOCATIONS_BYTES = 50_000_000


class LocationsFileError(ValueError):
    """SUTRA_LOCATIONS_FILE cannot be read; the message names the file and why."""


def read_locations(path: Path) -> Location:
    """A location hierarchy in goflow's JSON (a country and its states, districts, wards)."""
    where = f"SUTRA_LOCATIONS_FILE ({path})"
    try:
        if path.stat().st_size > _MAX_LOCATIONS_BYTES:
            raise LocationsFileError(f"{where}: larger than {_MAX_LOCATIONS_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise LocationsFileError(f"{where}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LocationsFileError(f"{where}: not JSON ({error})") from None
    # goflow's location assets may wrap the hierarchy: {"locations": [{...}]}.
    if isinstance(data, dict) and isinstance(data.get("locations"), list) and data["locations"]:
        data = data["locations"][0]
    try:
        return Location.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        at = ".".join(str(part) for part in first["loc"]) or "the top"
        raise LocationsFileError(f"{where}: at {at}: {first['msg']}") from None


def environment_from_settings(settings: Settings) -> Environment:
    return Environment(
        timezone=settings.timezone,
        date_format=settings.date_format,
        default_country=settings.default_country.upper() if settings.default_country else None,
        decimal_symbol=settings.decimal_symbol,
        locations=read_locations(settings.locations_file) if settings.locations_file else None,
    )
