"""Channel webhooks: verify, store (deduplicated), acknowledge; the pipeline does the rest."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse

from sutra import jsonparse
from sutra.channels import gupshup, whatsapp
from sutra.channels.base import ChannelError, InboundMessage, StatusUpdate
from sutra.engine.session import Input
from sutra.runtime import metrics
from sutra.runtime.webhooks import redact
from sutra.store import work
from sutra.web.state import AppState, app_state

log = logging.getLogger(__name__)
# How much of an unreadable payload the log keeps.
LOGGED_CHARS = 2000
router = APIRouter(prefix="/webhooks", tags=["channel webhooks"])
State = Annotated[AppState, Depends(app_state)]


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _json_body(raw: bytes) -> Any:
    try:
        return jsonparse.loads(raw)
    except jsonparse.JSONTooDeep as exc:
        raise HTTPException(400, f"body: {exc}") from None
    except ValueError as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from None


def _excerpt(payload: Any) -> str:
    """The start of ``payload`` for the log, secret-looking fields masked."""
    text = json.dumps(redact(payload), ensure_ascii=False)
    if len(text) <= LOGGED_CHARS:
        return text
    return f"{text[:LOGGED_CHARS]}... ({len(text)} characters in all)"


async def _accept(
    state: AppState, channel: str, messages: list[InboundMessage], statuses: list[StatusUpdate]
) -> dict[str, int]:
    arrivals = [
        work.Arrival(
            organization_id=state.repo.org,
            urn=message.urn,
            channel=channel,
            message=Input(text=message.text, attachments=message.attachments),
            name=message.contact_name,
            phone=message.phone,
            external_id=message.external_id,
            payload=message.payload,
        )
        for message in messages
    ]
    updates = [
        work.StatusNews(status.external_id, status.status, status.error, status.reference)
        for status in statuses
    ]
    pipeline = state.pipeline
    # One unit of work for the whole payload, durable before the provider hears 200; it also
    # takes the contacts this process has room for, with their work, saving a round trip.
    stored_flags, claims = await state.runner.db.run(
        _store, arrivals, channel, updates, pipeline.lease_request()
    )
    stored = 0
    for contact_id, was_stored in stored_flags:
        if was_stored:
            stored += 1
            metrics.MESSAGES_IN.labels(channel).inc()
            if contact_id not in claims:
                pipeline.notify(contact_id)
        else:
            metrics.DUPLICATES.labels(channel).inc()
    for claim in claims.values():
        pipeline.adopt(claim)
    return {"stored": stored, "duplicates": len(messages) - stored, "statuses": len(statuses)}


def _store(
    tx: work.Tx,
    arrivals: list[work.Arrival],
    channel: str,
    updates: list[work.StatusNews],
    lease: work.LeaseRequest,
) -> tuple[list[tuple[int, bool]], dict[int, work.Claim]]:
    work.update_statuses(tx, channel, updates)
    stored = work.ingest(tx, arrivals)
    wanted = list(dict.fromkeys(contact_id for contact_id, ok in stored if ok))
    claims = work.claim_some(tx, wanted, lease)
    if len(claims) < len(wanted):
        work.announce(tx)  # work this process has no room for now: wake the others
    return stored, claims


def _refuse(channel: str, exc: ChannelError, payload: Any) -> HTTPException:
    # A payload we cannot read is answered 400 (the provider stops retrying a lost cause)
    # and its start is logged, so nothing a contact sent disappears without a trace; only
    # its start, as one payload can be a megabyte.
    metrics.ERRORS.labels(f"{channel}_payload").inc()
    log.warning("unreadable %s webhook: %s", channel, exc, extra={"payload": _excerpt(payload)})
    return HTTPException(400, str(exc))


@router.get("/whatsapp", response_class=PlainTextResponse)
async def whatsapp_handshake(request: Request, state: State) -> str:
    token = _secret(state.settings.whatsapp_verify_token)
    challenge = (
        whatsapp.verify_handshake(dict(request.query_params), token or "") if token else None
    )
    if challenge is None:
        raise HTTPException(403, "verification token does not match")
    return challenge


@router.post("/whatsapp")
async def whatsapp_webhook(request: Request, state: State) -> dict[str, int]:
    secret = _secret(state.settings.whatsapp_app_secret)
    raw = await request.body()
    if not secret or not whatsapp.verify_signature(
        secret, raw, request.headers.get("x-hub-signature-256")
    ):
        raise HTTPException(401, "missing or wrong X-Hub-Signature-256")
    payload = _json_body(raw)
    try:
        messages, statuses = whatsapp.parse_webhook(payload)
    except ChannelError as exc:
        raise _refuse("whatsapp", exc, payload) from None
    # Stored as WhatsApp Cloud's even when Gupshup is the channel that sends to whatsapp:
    # urns (Cloud half configured): its replies then fail as "not configured", which start-up
    # has already said, instead of going out through another number.
    return await _accept(state, "whatsapp", messages, statuses)


@router.post("/gupshup")
async def gupshup_webhook(
    request: Request, state: State, token: Annotated[str, Query()] = ""
) -> dict[str, int]:
    expected = _secret(state.settings.gupshup_webhook_token)
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong token")
    payload = _json_body(await request.body())
    try:
        messages, statuses = gupshup.parse_webhook(payload)
    except ChannelError as exc:
        raise _refuse("gupshup", exc, payload) from None
    return await _accept(state, "gupshup", messages, statuses)
