"""Settings from the environment. Secrets are ``SecretStr``: they print as ``**********``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUTRA_", extra="ignore")

    # SUTRA_DATABASE_URL is read by sutra.store.db, which owns the choice of driver.
    timezone: str = "UTC"
    # Default: WARNING for the CLI, INFO for the server.
    log_level: str | None = None
    # Signs outgoing HTTP webhooks with X-Glific-Signature when set.
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=5.0, gt=0)
    function_timeout: float = Field(default=600.0, gt=0)


class ServerSettings(BaseSettings):
    """``sutra serve``'s channels and API. A channel is on when its credentials are set."""

    model_config = SettingsConfigDict(extra="ignore")

    sutra_api_token: SecretStr | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    gupshup_api_key: SecretStr | None = None
    gupshup_app_name: str | None = None
    gupshup_source_number: str | None = None
    gupshup_api_url: str = "https://api.gupshup.io"
    # Gupshup signs nothing: its callback URL carries this secret as ?token=...
    gupshup_webhook_token: SecretStr | None = None
    # Inbound media is downloaded here and served at /media; the public URL makes the links
    # absolute, for services outside (an LLM fetching an image).
    sutra_media_dir: str = "media"
    sutra_public_url: str = ""


@lru_cache
def get_settings() -> Settings:
    return Settings()
