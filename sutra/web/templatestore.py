"""An organisation's WhatsApp message templates: synced from its Business Account, listed,
found for a send.

A sync replaces the stored list with Meta's: templates are updated in place (status, body,
components), new ones added, those no longer on the account removed. It needs the
organisation's ``whatsapp_business_account_id`` and access token (the default organisation
falls back to ``WHATSAPP_BUSINESS_ACCOUNT_ID`` / ``WHATSAPP_ACCESS_TOKEN``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.channels import templates as wire
from sutra.config import ServerSettings
from sutra.http import transport
from sutra.orgs import store as org_store
from sutra.orgs.channels import channel_config
from sutra.store import models as m

Sessions = async_sessionmaker[AsyncSession]
APPROVED = "APPROVED"


@dataclass(frozen=True)
class SyncResult:
    templates: int
    approved: int
    removed: int


async def list_templates(sessions: Sessions, org: int) -> list[m.WhatsAppTemplate]:
    async with sessions() as db:
        rows = await db.scalars(
            select(m.WhatsAppTemplate)
            .where(m.WhatsAppTemplate.organization_id == org)
            .order_by(m.WhatsAppTemplate.name, m.WhatsAppTemplate.language)
        )
        return list(rows)


async def find(sessions: Sessions, org: int, name: str, language: str | None) -> m.WhatsAppTemplate:
    """The named template (in ``language``, or its only language), for a send: a
    :class:`~sutra.channels.templates.TemplateError` naming the field when it cannot be sent."""
    async with sessions() as db:
        rows = list(
            await db.scalars(
                select(m.WhatsAppTemplate).where(
                    m.WhatsAppTemplate.organization_id == org, m.WhatsAppTemplate.name == name
                )
            )
        )
    if language:
        rows = [r for r in rows if r.language == language]
    if not rows:
        where = f" in {language}" if language else ""
        raise wire.TemplateError(
            f"template: no template {name!r}{where} (sync the templates on the Templates page)",
            404,
        )
    if len(rows) > 1:
        languages = ", ".join(sorted(r.language for r in rows))
        raise wire.TemplateError(f"language: {name!r} is in {languages}: say which", 422)
    found = rows[0]
    if found.status != APPROVED:
        raise wire.TemplateError(
            f"template: {name!r} ({found.language}) is {found.status}; only APPROVED "
            "templates can be sent",
            409,
        )
    why = wire.unsupported(found.components)
    if why is not None:
        raise wire.TemplateError(f"template: {name!r} cannot be sent from Sutra: {why}", 409)
    return found


def sendable(row: m.WhatsAppTemplate) -> bool:
    """Approved, and made only of what Sutra fills in (body variables)."""
    return row.status == APPROVED and wire.unsupported(row.components) is None


async def sync(
    sessions: Sessions,
    org: int,
    server: ServerSettings,
    *,
    http: httpx.AsyncClient | None = None,
    progress: Callable[[int], None] | None = None,
) -> SyncResult:
    """Fetch the organisation's templates from Meta and store them."""
    organization = await org_store.get_org(sessions, org)
    config = channel_config(org, dict(organization.settings or {}), server)
    missing = [
        name
        for name in ("whatsapp_business_account_id", "whatsapp_access_token")
        if not getattr(config, name)
    ]
    if missing:
        raise wire.TemplateError(
            f"{' and '.join(missing)}: not set; set {'them' if len(missing) > 1 else 'it'} "
            "on the settings page (WhatsApp Cloud) to sync templates",
            409,
        )
    assert config.whatsapp_business_account_id and config.whatsapp_access_token
    client = http or httpx.AsyncClient(transport=transport())
    try:
        fetched = await wire.fetch(
            client,
            server.whatsapp_api_url,
            config.whatsapp_business_account_id,
            config.whatsapp_access_token,
            progress=progress,
        )
    finally:
        if http is None:
            await client.aclose()
    return await store(sessions, org, fetched)


async def store(sessions: Sessions, org: int, fetched: list[wire.Template]) -> SyncResult:
    """Make the stored list the fetched one."""
    now = m.utcnow()
    latest = {(t.name, t.language): t for t in fetched}
    async with sessions.begin() as db:
        stored = {
            (row.name, row.language): row
            for row in await db.scalars(
                select(m.WhatsAppTemplate).where(m.WhatsAppTemplate.organization_id == org)
            )
        }
        gone = [row.id for key, row in stored.items() if key not in latest]
        if gone:
            await db.execute(delete(m.WhatsAppTemplate).where(m.WhatsAppTemplate.id.in_(gone)))
        for key, template in latest.items():
            row = stored.get(key)
            if row is None:
                row = m.WhatsAppTemplate(organization_id=org, name=key[0], language=key[1])
                db.add(row)
            row.external_id = template.external_id
            row.status = template.status
            row.category = template.category
            row.components = template.components
            row.body = template.body
            row.variables = len(template.variables)
            row.synced_at = now
    approved = sum(1 for t in latest.values() if t.status == APPROVED)
    return SyncResult(len(latest), approved, len(gone))


def template_json(row: m.WhatsAppTemplate) -> dict[str, Any]:
    return {
        "name": row.name,
        "language": row.language,
        "status": row.status,
        "category": row.category,
        "sendable": sendable(row),
        # Why an approved template cannot be sent from Sutra (a media header...), if it cannot.
        "unsupported": wire.unsupported(row.components),
        "body": row.body,
        "variables": wire.placeholders(row.body),
        "variable_count": row.variables,
        "components": row.components,
        "external_id": row.external_id,
        "synced_at": row.synced_at.isoformat() if row.synced_at else None,
    }
