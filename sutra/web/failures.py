"""Dead letters: the inbound messages Sutra could not handle, for staff to see and replay.

A message whose handling raised is tried again a few times when nothing of it was stored (see
``Pipeline._unit``); after that, or at once when a webhook had already been called, it is
marked ``failed`` with the reason. ``GET /api/v1/failures`` lists those, newest first;
``POST /api/v1/messages/{uuid}/replay`` hands one to the pipeline again, as if it had just
arrived (the contact's flow as it is now, keywords included).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import func, select

from sutra.store import models as m
from sutra.store.hotdb import Tx
from sutra.store.work.common import now_utc
from sutra.web.api import require_token
from sutra.web.state import AppState, app_state

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)], tags=["api"])
State = Annotated[AppState, Depends(app_state)]


@router.get("/failures")
async def list_failures(
    state: State,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> dict[str, Any]:
    """Inbound messages that failed, with the reason and how often they were tried."""
    failed = (
        m.Message.organization_id == state.repo.org,
        m.Message.direction == "in",
        m.Message.status == "failed",
    )
    async with state.repo.sessions() as db:
        total = await db.scalar(select(func.count()).select_from(m.Message).where(*failed))
        rows = await db.execute(
            select(m.Message, m.Contact.uuid, m.Contact.urn)
            .join(m.Contact, m.Contact.id == m.Message.contact_id)
            .where(*failed)
            .order_by(m.Message.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return {
            "count": total or 0,
            "results": [
                {
                    "uuid": message.uuid,
                    "contact": {"uuid": contact_uuid, "urn": urn},
                    "text": message.text,
                    "channel": message.channel,
                    "error": message.error,
                    "attempts": message.attempts,
                    "created_at": message.created_at.isoformat(),
                    "failed_at": message.updated_at.isoformat(),
                }
                for message, contact_uuid, urn in rows
            ],
        }


@router.post("/messages/{uuid}/replay", status_code=202)
async def replay(uuid: str, state: State) -> dict[str, Any]:
    """Handle a failed inbound message again (after the flow or a setting was fixed)."""
    contact_id = await state.runner.db.run(_requeue, state.repo.org, uuid)
    if contact_id is None:
        raise HTTPException(404, f"no failed inbound message {uuid}")
    state.pipeline.notify(contact_id)
    return {"uuid": uuid, "status": "received"}


def _requeue(tx: Tx, organization_id: int, uuid: str) -> int | None:
    row = tx.one(
        "UPDATE messages SET status = 'received', error = NULL, attempts = 0, "
        "next_attempt_at = NULL, updated_at = :now WHERE uuid = :uuid AND "
        "organization_id = :org AND direction = 'in' AND status = 'failed' RETURNING contact_id",
        {"uuid": uuid, "org": organization_id, "now": tx.ts(now_utc())},
    )
    return None if row is None else int(row[0])
