"""What a running server knows of its organisations: which are active, their settings and
channels, and which organisation a webhook's number belongs to.

Read from the database at most once a second (settings pages in any process change them),
so routing a webhook costs no query. Channel objects are kept per organisation and made anew
only when its credentials change.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.channels.base import Channel
from sutra.config import ServerSettings
from sutra.orgs.channels import ChannelConfig, build_channels, channel_config
from sutra.store import models as m

# How fresh the organisations must be before a webhook for an unknown number is refused.
MISS_REREAD = 0.25


@dataclass
class OrgInfo:
    id: int
    name: str
    timezone: str
    active: bool
    settings: dict[str, Any]
    channel: ChannelConfig


@dataclass
class _Snapshot:
    orgs: dict[int, OrgInfo] = field(default_factory=dict)
    whatsapp: dict[str, int] = field(default_factory=dict)
    gupshup_apps: dict[str, int] = field(default_factory=dict)


class Directory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        server: ServerSettings,
        http: httpx.AsyncClient,
        *,
        refresh_every: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.server = server
        self.http = http
        self.refresh_every = refresh_every
        self._snapshot = _Snapshot()
        self._read_at = -1e9
        self._lock = asyncio.Lock()
        self._channels: dict[int, tuple[ChannelConfig, dict[str, Channel]]] = {}

    async def snapshot(self, *, fresher: float | None = None) -> _Snapshot:
        """The organisations as read at most ``refresh_every`` (or ``fresher``) seconds ago."""
        limit = self.refresh_every if fresher is None else fresher
        if time.monotonic() - self._read_at <= limit:
            return self._snapshot
        async with self._lock:
            if time.monotonic() - self._read_at > limit:
                self._snapshot = await self._read()
                self._read_at = time.monotonic()
        return self._snapshot

    def invalidate(self) -> None:
        """Read again on the next use (after a change in this process)."""
        self._read_at = -1e9

    async def _read(self) -> _Snapshot:
        async with self.sessions() as db:
            rows = list(await db.scalars(select(m.Organization)))
        found = _Snapshot()
        for row in rows:
            stored = dict(row.settings or {})
            info = OrgInfo(
                row.id,
                row.name,
                row.timezone,
                bool(row.is_active),
                stored,
                channel_config(row.id, stored, self.server),
            )
            found.orgs[row.id] = info
            if not info.active:
                continue
            if info.channel.whatsapp_phone_number_id:
                found.whatsapp.setdefault(info.channel.whatsapp_phone_number_id, row.id)
            if info.channel.gupshup_app_name:
                found.gupshup_apps.setdefault(info.channel.gupshup_app_name, row.id)
        return found

    async def org(self, organization_id: int) -> OrgInfo | None:
        return (await self.snapshot()).orgs.get(organization_id)

    async def channels(self, organization_id: int) -> dict[str, Channel]:
        info = await self.org(organization_id)
        config = info.channel if info is not None and info.active else ChannelConfig()
        kept = self._channels.get(organization_id)
        if kept is None or kept[0] != config:
            kept = (config, build_channels(config, self.server, self.http))
            self._channels[organization_id] = kept
        return kept[1]

    async def whatsapp_org(self, phone_number_id: str | None) -> int | None:
        """The active organisation answering on this WhatsApp number, or None."""
        if not phone_number_id:
            return None
        found = (await self.snapshot()).whatsapp.get(str(phone_number_id))
        if found is None:
            # A number set up a moment ago (in another process) is not refused for it; the
            # re-read is bounded, so a stream of strays costs a query per MISS_REREAD at most.
            found = (await self.snapshot(fresher=MISS_REREAD)).whatsapp.get(str(phone_number_id))
        return found

    async def gupshup_org(self, token: str) -> OrgInfo | None:
        """The active organisation whose Gupshup callback token this is, or None."""
        for fresher in (None, MISS_REREAD):
            for info in (await self.snapshot(fresher=fresher)).orgs.values():
                expected = info.channel.gupshup_webhook_token
                if (
                    info.active
                    and expected
                    and hmac.compare_digest(token.encode(), expected.encode())
                ):
                    return info
        return None
