"""An organisation's channels: their credentials (stored, or the environment's for the default
organisation), the channel objects that send with them, and what is missing."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import httpx

from sutra.channels.base import Channel
from sutra.channels.simulator import Simulator
from sutra.config import ServerSettings
from sutra.orgs import DEFAULT_ORG


@dataclass(frozen=True)
class ChannelConfig:
    whatsapp_phone_number_id: str | None = None
    whatsapp_access_token: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_business_account_id: str | None = None
    gupshup_app_name: str | None = None
    gupshup_api_key: str | None = None
    gupshup_source_number: str | None = None
    gupshup_webhook_token: str | None = None

    def whatsapp_missing(self) -> list[str]:
        wanted = ("whatsapp_phone_number_id", "whatsapp_access_token", "whatsapp_app_secret")
        return [name for name in wanted if not getattr(self, name)]

    def gupshup_missing(self) -> list[str]:
        wanted = (
            "gupshup_app_name",
            "gupshup_api_key",
            "gupshup_source_number",
            "gupshup_webhook_token",
        )
        return [name for name in wanted if not getattr(self, name)]

    @property
    def whatsapp(self) -> bool:
        return bool(self.whatsapp_phone_number_id and self.whatsapp_access_token)

    @property
    def gupshup(self) -> bool:
        return bool(self.gupshup_api_key and self.gupshup_app_name and self.gupshup_source_number)


def _env_value(server: ServerSettings, name: str) -> str | None:
    value: Any = getattr(server, name, None)
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return str(value) if value else None


def channel_config(
    organization_id: int, stored: dict[str, Any], server: ServerSettings
) -> ChannelConfig:
    """The organisation's channel credentials: stored ones first; the default organisation
    falls back to the environment for each one not stored."""
    values: dict[str, str | None] = {}
    for item in fields(ChannelConfig):
        value = stored.get(item.name)
        if not value and organization_id == DEFAULT_ORG:
            value = _env_value(server, item.name)
        values[item.name] = str(value) if value else None
    return ChannelConfig(**values)


def build_channels(
    config: ChannelConfig, server: ServerSettings, http: httpx.AsyncClient
) -> dict[str, Channel]:
    """The channels these credentials make; a channel is on when its credentials are set."""
    channels: dict[str, Channel] = {"sim": Simulator()}
    if config.whatsapp:
        from sutra.channels.whatsapp import WhatsAppCloud

        assert config.whatsapp_access_token and config.whatsapp_phone_number_id
        channels["whatsapp"] = WhatsAppCloud(
            config.whatsapp_access_token,
            config.whatsapp_phone_number_id,
            api_url=server.whatsapp_api_url,
            http=http,
        )
    if config.gupshup:
        from sutra.channels.gupshup import Gupshup

        assert config.gupshup_api_key and config.gupshup_app_name
        assert config.gupshup_source_number
        channels["gupshup"] = Gupshup(
            config.gupshup_api_key,
            config.gupshup_app_name,
            config.gupshup_source_number,
            api_url=server.gupshup_api_url,
            http=http,
        )
    return channels


def whatsapp_scheme(channels: dict[str, Channel]) -> str:
    """Which channel a ``whatsapp:`` contact's replies go out on."""
    return "whatsapp" if "whatsapp" in channels else "gupshup"
