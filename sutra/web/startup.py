"""What ``sutra serve`` says when it starts: the channels, LLM provider, database and editor
build in use (secrets never shown), and any channel that is only half configured.

A channel is on when everything it needs to send is set. A half-configured one (an access
token without the phone number id) is off, and said so at start-up as an error naming the
missing setting, rather than discovered later as replies that fail.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from sutra.config import ServerSettings, Settings
from sutra.redact import redact_url

log = logging.getLogger("sutra.startup")


@dataclass(frozen=True)
class ChannelSetup:
    name: str
    # The settings a channel sends with: all of them, or it is off.
    needed: dict[str, bool]
    # Settings its webhook needs (set, or inbound messages are refused).
    inbound: dict[str, bool]

    @property
    def on(self) -> bool:
        return all(self.needed.values())

    @property
    def missing(self) -> list[str]:
        return [k for k, present in self.needed.items() if not present]

    @property
    def half_configured(self) -> bool:
        return not self.on and any(self.needed.values())

    def problems(self) -> list[str]:
        """What an operator must fix, in words, e.g. for a token without its number id."""
        found = []
        if self.half_configured:
            given = ", ".join(k for k, present in self.needed.items() if present)
            found.append(
                f"{self.name} is half configured: {given} set but {', '.join(self.missing)} "
                f"missing, so {self.name} is off (nothing is sent through it)"
            )
        if self.on:
            for key, present in self.inbound.items():
                if not present:
                    found.append(
                        f"{self.name}: {key} is not set, so its webhook refuses every message"
                    )
        return found


def channel_setups(settings: ServerSettings) -> list[ChannelSetup]:
    s = settings
    return [
        ChannelSetup(
            "WhatsApp Cloud",
            {
                "WHATSAPP_ACCESS_TOKEN": _set(s.whatsapp_access_token),
                "WHATSAPP_PHONE_NUMBER_ID": bool(s.whatsapp_phone_number_id),
            },
            {"WHATSAPP_APP_SECRET": _set(s.whatsapp_app_secret)},
        ),
        ChannelSetup(
            "Gupshup",
            {
                "GUPSHUP_API_KEY": _set(s.gupshup_api_key),
                "GUPSHUP_APP_NAME": bool(s.gupshup_app_name),
                "GUPSHUP_SOURCE_NUMBER": bool(s.gupshup_source_number),
            },
            {"GUPSHUP_WEBHOOK_TOKEN": _set(s.gupshup_webhook_token)},
        ),
    ]


def _set(value: object) -> bool:
    secret = getattr(value, "get_secret_value", None)
    return bool(secret() if secret else value)


def llm_summary(config: Settings) -> str:
    """The platform's LLM provider (organisations may bring their own), without the key."""
    from sutra.llm.select import provider_mode

    try:
        mode = provider_mode(config=config)
    except Exception as exc:  # an unknown SUTRA_LLM: say so, the calls will fail the same way
        return f"unusable ({exc})"
    if mode == "local":
        return f"local model {config.local_model} (embedded, no network)"
    base = os.environ.get("OPENAI_BASE_URL", "").strip() or "https://api.openai.com/v1"
    key = "a key is set" if os.environ.get("OPENAI_API_KEY", "").strip() else "no key"
    return f"openai at {redact_url(base)} ({key})"


def summary(
    settings: ServerSettings, config: Settings, database_url: str, editor: str | None
) -> str:
    """One line: ``channels: …; LLM: …; database: …; editor: …``."""
    setups = channel_setups(settings)
    on = [c.name for c in setups if c.on]
    channels = ", ".join(on) if on else "none (only the simulator)"
    whatsapp = settings.whatsapp_phone_number_id
    if whatsapp and setups[0].on:
        channels = channels.replace("WhatsApp Cloud", f"WhatsApp Cloud (number id {whatsapp})")
    return (
        f"sutra serve: channels: {channels}; LLM: {llm_summary(config)}; "
        f"database: {_database(database_url)}; "
        f"flow editor: {editor or 'not installed (run make setup)'}"
    )


def _database(url: str) -> str:
    # Only a URL with credentials needs masking (urlsplit would eat sqlite:////'s slashes).
    return redact_url(url) if "@" in url else url


def report(
    settings: ServerSettings, config: Settings, database_url: str, editor: str | None
) -> list[str]:
    """Log the summary, and each channel problem as an error; returns the problems."""
    log.info(summary(settings, config, database_url, editor))
    problems = [p for c in channel_setups(settings) for p in c.problems()]
    for problem in problems:
        log.error(problem)
    return problems
