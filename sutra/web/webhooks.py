"""Channel webhooks: verify, store (deduplicated), acknowledge; the pipeline does the rest.

One Meta webhook URL serves every organisation's WhatsApp numbers: each change is routed by its
``metadata.phone_number_id`` to the organisation that has that number, and checked against that
organisation's app secret. Gupshup callbacks are routed by their ``?token=``, each
organisation's own. A message for a number no organisation has is refused and logged, never
stored under another organisation.
"""

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
from sutra.orgs import DEFAULT_ORG
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
    state: AppState,
    org: int,
    channel: str,
    messages: list[InboundMessage],
    statuses: list[StatusUpdate],
) -> dict[str, int]:
    arrivals = [
        work.Arrival(
            organization_id=org,
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
    async with pipeline.working.turn(org):
        stored_flags, claims = await state.runner.db.run(
            _store, org, arrivals, channel, updates, pipeline.lease_request(org)
        )
    stored = 0
    for contact_id, was_stored in stored_flags:
        if was_stored:
            stored += 1
            metrics.MESSAGES_IN.labels(channel).inc()
            if contact_id not in claims:
                pipeline.notify(contact_id, org)
        else:
            metrics.DUPLICATES.labels(channel).inc()
    for claim in claims.values():
        pipeline.adopt(claim)
    return {"stored": stored, "duplicates": len(messages) - stored, "statuses": len(statuses)}


def _store(
    tx: work.Tx,
    org: int,
    arrivals: list[work.Arrival],
    channel: str,
    updates: list[work.StatusNews],
    lease: work.LeaseRequest,
) -> tuple[list[tuple[int, bool]], dict[int, work.Claim]]:
    work.update_statuses(tx, channel, updates, org)
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


def _numbers(payload: Any) -> list[str | None]:
    """The phone number id of each change of a Cloud API payload (None where it has none)."""
    found: list[str | None] = []
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            found.append(str(number) if number not in (None, "") else None)
    return found


async def _whatsapp_org(state: AppState, number: str | None) -> int | None:
    directory = state.directory
    if directory is None:  # one organisation, configured from the environment
        return DEFAULT_ORG
    if number is None:
        # A payload without metadata can only be the default number's (older stand-ins and
        # hand-made tests send none); with several organisations it has no owner.
        info = await directory.org(DEFAULT_ORG)
        return DEFAULT_ORG if info is not None and info.channel.whatsapp else None
    found = await directory.whatsapp_org(number)
    if found is None and not (await directory.snapshot()).whatsapp:
        # No organisation has set a number at all: the one-organisation install that has not
        # (or not yet) set WHATSAPP_PHONE_NUMBER_ID keeps its messages, as before organisations.
        return DEFAULT_ORG
    return found


async def _app_secret(state: AppState, org: int) -> str | None:
    if state.directory is None:
        return _secret(state.settings.whatsapp_app_secret)
    info = await state.directory.org(org)
    return info.channel.whatsapp_app_secret if info is not None else None


def _by_number(messages: list[Any], number: str | None) -> list[Any]:
    return [m for m in messages if (m.payload or {}).get("phone_number_id") == number]


@router.post("/whatsapp")
async def whatsapp_webhook(request: Request, state: State) -> dict[str, int]:
    raw = await request.body()
    signature = request.headers.get("x-hub-signature-256")
    try:
        payload = _json_body(raw) if signature else None
    except HTTPException:
        # Unreadable, so unroutable: only the default number's secret can vouch for it.
        secret = _secret(state.settings.whatsapp_app_secret)
        if secret and whatsapp.verify_signature(secret, raw, signature):
            raise
        raise HTTPException(401, "missing or wrong X-Hub-Signature-256") from None
    numbers = list(dict.fromkeys(_numbers(payload))) if payload is not None else []
    owners = {number: await _whatsapp_org(state, number) for number in numbers}
    orgs = {org for org in owners.values() if org is not None}
    if not orgs:
        # No organisation to check the signature for: nothing here is anybody's.
        secret = _secret(state.settings.whatsapp_app_secret)
        if not numbers and secret and whatsapp.verify_signature(secret, raw, signature):
            orgs = {DEFAULT_ORG}
        elif numbers:
            metrics.ERRORS.labels("whatsapp_unknown_number").inc()
            log.warning(
                "WhatsApp webhook for unknown numbers refused: %s",
                ", ".join(str(n) for n in numbers),
            )
            raise HTTPException(404, f"no organisation has the number(s) {numbers}")
        else:
            raise HTTPException(401, "missing or wrong X-Hub-Signature-256")
    # Meta signs with the app's secret: every organisation in the payload must have it.
    for org in orgs:
        secret = await _app_secret(state, org)
        if not secret or not whatsapp.verify_signature(secret, raw, signature):
            raise HTTPException(401, "missing or wrong X-Hub-Signature-256")
    try:
        messages, statuses = whatsapp.parse_webhook(payload)
    except ChannelError as exc:
        raise _refuse("whatsapp", exc, payload) from None
    total = {"stored": 0, "duplicates": 0, "statuses": 0, "refused": 0}
    unknown = [number for number, org in owners.items() if org is None]
    for number in unknown:
        refused = _by_number(messages, number)
        total["refused"] += len(refused)
        metrics.ERRORS.labels("whatsapp_unknown_number").inc()
        log.warning(
            "WhatsApp messages for unknown number %s refused (%d, not stored)",
            number,
            len(refused),
        )
    for org in sorted(orgs):
        mine = [n for n, o in owners.items() if o == org] or [None]
        own = [m for n in mine for m in _by_number(messages, n)]
        if not numbers:
            own = messages
        # Stored as WhatsApp Cloud's even when Gupshup is the channel that sends to whatsapp:
        # urns (Cloud half configured): its replies then fail as "not configured", which
        # start-up has already said, instead of going out through another number. Statuses
        # name our own message ids, which are unique: each organisation updates only its own.
        done = await _accept(state, org, "whatsapp", own, statuses)
        for key, value in done.items():
            total[key] += value
    total["statuses"] = len(statuses)
    return total


async def _gupshup_org(state: AppState, token: str) -> int | None:
    if state.directory is not None:
        info = await state.directory.gupshup_org(token)
        return info.id if info is not None else None
    expected = _secret(state.settings.gupshup_webhook_token)
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return DEFAULT_ORG
    return None


@router.post("/gupshup")
async def gupshup_webhook(
    request: Request, state: State, token: Annotated[str, Query()] = ""
) -> dict[str, int]:
    org = await _gupshup_org(state, token) if token else None
    if org is None:
        raise HTTPException(401, "missing or wrong token")
    payload = _json_body(await request.body())
    try:
        messages, statuses = gupshup.parse_webhook(payload)
    except ChannelError as exc:
        raise _refuse("gupshup", exc, payload) from None
    app = payload.get("app") if isinstance(payload, dict) else None
    info = await state.directory.org(org) if state.directory is not None else None
    if app and info is not None and info.channel.gupshup_app_name not in (None, app):
        log.warning("Gupshup callback for app %r refused: the token is another app's", app)
        raise HTTPException(403, f"app {app!r} is not this token's")
    return await _accept(state, org, "gupshup", messages, statuses)
