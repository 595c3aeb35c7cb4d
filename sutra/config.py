"""Settings from the environment. Secrets are ``SecretStr``: they print as ``**********``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUTRA_", extra="ignore")

    # SUTRA_DATABASE_URL is read by sutra.store.db, which owns the choice of driver.
    timezone: str = "UTC"
    log_level: str = "WARNING"
    # Signs outgoing HTTP webhooks with X-Glific-Signature when set.
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=5.0, gt=0)
    function_timeout: float = Field(default=600.0, gt=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
