"""Send outcomes and delivery statuses: what the channel and the provider say about
outbound messages, only ever moving a message forward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sutra.store.hotdb import Tx
from sutra.store.work.common import now_utc


@dataclass
class Sent:
    """What a channel said about one outbound message."""

    uuid: str
    status: str  # sent | failed | retry
    external_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None


def record_sent(tx: Tx, outcomes: list[Sent]) -> None:
    now = tx.ts(now_utc())
    for s in outcomes:
        if s.status == "retry":
            tx.execute(
                "UPDATE messages SET status = 'queued', error = :error, "
                "next_attempt_at = :at, updated_at = :now WHERE uuid = :uuid "
                "AND status IN ('queued', 'sending')",
                {"error": s.error, "at": tx.ts(s.retry_at), "now": now, "uuid": s.uuid},
            )
        else:
            # Forward only: the provider's "delivered" may have come in before this answer.
            tx.execute(
                f"UPDATE messages SET status = CASE WHEN {_RANK_SQL} < :rank THEN :status "
                "ELSE status END, error = COALESCE(:error, error), "
                "external_id = COALESCE(:external_id, external_id), "
                "sent_at = COALESCE(sent_at, :sent_at), updated_at = :now WHERE uuid = :uuid",
                {
                    "status": s.status,
                    "rank": _RANK[s.status],
                    "error": s.error,
                    "external_id": s.external_id,
                    "sent_at": now if s.status == "sent" else None,
                    "now": now,
                    "uuid": s.uuid,
                },
            )


def begin_resend(tx: Tx, uuid: str) -> int | None:
    """Mark a queued or in-doubt message as being sent again, before the call; its attempts
    so far, or None when it needs no send any more (a status came in, another worker sent
    it)."""
    row = tx.one(
        "UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = :now "
        "WHERE uuid = :uuid AND status IN ('queued', 'sending') RETURNING attempts",
        {"uuid": uuid, "now": tx.ts(now_utc())},
    )
    return None if row is None else int(row[0]) - 1


def message_status(tx: Tx, uuid: str) -> str | None:
    row = tx.one("SELECT status FROM messages WHERE uuid = :uuid", {"uuid": uuid})
    return None if row is None else str(row[0])


# A delivery status only moves a message forward: a late "sent" never undoes "read".
_RANK = {"queued": 0, "sending": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}
_RANK_SQL = "CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in _RANK.items()) + " END"


@dataclass(frozen=True)
class StatusNews:
    """A provider's delivery status: its id of the message, and ours when it echoes it."""

    external_id: str
    status: str
    error: str | None = None
    reference: str | None = None


def update_statuses(
    tx: Tx, channel: str, updates: list[StatusNews], organization_id: int | None = None
) -> None:
    """Provider news about sent messages; unknown ids are ignored (a message sent by another
    system on the same number). A status that names our id also settles a send whose answer
    was never recorded: the provider has the message, it must not go out again."""
    now = tx.ts(now_utc())
    for news in updates:
        if news.status not in _RANK:
            continue
        params = {
            "status": news.status,
            "error": news.error,
            "now": now,
            "channel": channel,
            "external_id": news.external_id,
            "reference": news.reference,
            "rank": _RANK[news.status],
            "org": organization_id,
        }
        where = (
            "uuid = :reference AND (external_id IS NULL OR external_id = :external_id)"
            if news.reference
            else "external_id = :external_id"
        )
        tx.execute(
            "UPDATE messages SET status = :status, error = COALESCE(:error, error), "
            "external_id = COALESCE(external_id, :external_id), "
            "sent_at = COALESCE(sent_at, :now), updated_at = :now "
            f"WHERE channel = :channel AND direction = 'out' AND {where} AND {_RANK_SQL} < :rank"
            + ("" if organization_id is None else " AND organization_id = :org"),
            params,
        )
