"""``ingest``: a channel webhook's messages stored, contacts upserted, duplicates caught."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sutra.engine.session import Input
from sutra.store.hotdb import Tx
from sutra.store.work.common import new_uuid, now_utc


@dataclass
class Arrival:
    """One inbound message as a channel webhook hands it over."""

    organization_id: int
    urn: str
    channel: str
    message: Input
    name: str | None = None
    phone: str | None = None
    external_id: str | None = None
    payload: dict[str, Any] | None = None


def ingest(tx: Tx, arrivals: list[Arrival]) -> list[tuple[int, bool]]:
    """Store messages (creating their contacts); per message ``(contact_id, stored)``, where
    ``stored`` is False for a repeated delivery (same channel and provider id)."""
    out = []
    now = tx.ts(now_utc())
    for a in arrivals:
        row = tx.one(
            "INSERT INTO contacts (uuid, organization_id, urn, name, phone, fields, status, "
            "last_message_at, channel, created_at, updated_at) "
            "VALUES (:uuid, :org, :urn, :name, :phone, :fields, 'active', :now, :channel, "
            ":now, :now) "
            "ON CONFLICT (organization_id, urn) DO UPDATE SET last_message_at = :now, "
            "channel = :channel, name = COALESCE(contacts.name, excluded.name) RETURNING id",
            {
                "uuid": new_uuid(),
                "org": a.organization_id,
                "urn": a.urn,
                "name": a.name,
                "phone": a.phone,
                "fields": tx.json({}),
                "now": now,
                "channel": a.channel,
            },
        )
        assert row is not None
        contact_id = int(row[0])
        m = a.message
        stored = tx.one(
            "INSERT INTO messages (uuid, organization_id, contact_id, direction, text, "
            "attachments, quick_replies, labels, channel, external_id, status, payload, "
            "attempts, created_at, updated_at) VALUES (:uuid, :org, :contact, 'in', :text, "
            ":attachments, :empty, :empty, :channel, :external_id, 'received', :payload, 0, "
            ":created, :now) ON CONFLICT (channel, external_id) DO NOTHING RETURNING id",
            {
                "uuid": m.uuid,
                "org": a.organization_id,
                "contact": contact_id,
                "text": m.text,
                "attachments": tx.json(m.attachments),
                "empty": tx.json([]),
                "channel": a.channel,
                "external_id": a.external_id,
                "payload": tx.json(a.payload),
                "created": tx.ts(m.created_on) if m.created_on else now,
                "now": now,
            },
        )
        out.append((contact_id, stored is not None))
    return out
