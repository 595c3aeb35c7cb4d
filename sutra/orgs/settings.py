"""An organisation's stored settings: what they are, how they are checked, how they are shown.

They live in ``organizations.settings`` (JSON) beside the name and time zone columns. The
default organisation's settings are the environment's (``SUTRA_*``, ``OPENAI_API_KEY``,
``WHATSAPP_*``, ``GUPSHUP_*``), each overridden by a stored value; other organisations have
only what is stored, so none of them spends the platform's key or answers on its number.

Secrets (keys, tokens, app secrets) are write-only: nothing ever reads them back out but the
code that uses them; pages, the API, logs and exports see at most their last 4 characters.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sutra.orgs import PLAIN, SECRETS


class SettingsUpdate(BaseModel):
    """A change of settings: only the keys given change. An empty string clears a setting
    (the default organisation falls back to the environment's value)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = None
    default_country: str | None = Field(default=None, pattern=r"^([A-Za-z]{2})?$")
    llm: Literal["openai", "local", "auto", ""] | None = None
    openai_api_key: SecretStr | None = Field(default=None, max_length=500)
    openai_base_url: str | None = Field(default=None, max_length=500, pattern=r"^(https?://.+)?$")
    default_model: str | None = Field(default=None, max_length=100)
    llm_monthly_budget: float | None = Field(default=None, ge=0)
    llm_contact_daily_tokens: int | None = Field(default=None, ge=0)
    whatsapp_phone_number_id: str | None = Field(default=None, max_length=64, pattern=r"^\d*$")
    whatsapp_business_account_id: str | None = Field(default=None, max_length=64, pattern=r"^\d*$")
    whatsapp_access_token: SecretStr | None = Field(default=None, max_length=1000)
    whatsapp_app_secret: SecretStr | None = Field(default=None, max_length=500)
    gupshup_app_name: str | None = Field(default=None, max_length=200)
    gupshup_api_key: SecretStr | None = Field(default=None, max_length=500)
    gupshup_source_number: str | None = Field(default=None, max_length=32, pattern=r"^\d*$")
    gupshup_webhook_token: SecretStr | None = Field(default=None, max_length=500)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            problem = f"unknown time zone {value!r} (use a name like Asia/Kolkata)"
            raise ValueError(problem) from None
        return value

    def changes(self) -> dict[str, Any]:
        """The stored-settings keys this update sets (None: remove the key)."""
        out: dict[str, Any] = {}
        for key in (*PLAIN, *SECRETS):
            if key not in self.model_fields_set:
                continue
            value = getattr(self, key)
            if isinstance(value, SecretStr):
                value = value.get_secret_value().strip()
            if isinstance(value, str):
                value = value.strip()
                if key == "default_country":
                    value = value.upper()
            out[key] = None if value == "" else value
        return out


def mask(value: object) -> str | None:
    """What may be shown of a secret: that it is set, and its last 4 characters (none of a
    short one).

    >>> mask("sk-abcdefghijklmnop"), mask("short"), mask(None), mask("")
    ('…mnop', '…', None, None)
    """
    if not value:
        return None
    text = str(value)
    return f"…{text[-4:]}" if len(text) >= 12 else "…"


def shown(settings: dict[str, Any]) -> dict[str, Any]:
    """The stored settings as pages and the API show them: secrets masked."""
    out = {key: settings.get(key) for key in PLAIN if key in settings}
    for key in SECRETS:
        out[key] = mask(settings.get(key))
    return out
