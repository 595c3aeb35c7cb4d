"""REST API under ``/api/v1``: flows, contacts, messages, results, webhook logs.

Every route needs ``Authorization: Bearer <SUTRA_API_TOKEN>``. The operator console adds its
routes (groups, fields, contact imports, result summaries, usage) in :mod:`sutra.web.console`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sutra import jsonparse
from sutra.flows import FlowFileError, parse_flow_file
from sutra.redact import redact_url
from sutra.store import models as m
from sutra.web import broadcaststore, contactstore, flowstore, results
from sutra.web.contactstore import ContactError, ContactFilter, ContactUpdate
from sutra.web.state import AppState, app_state, token_scope

_bearer = HTTPBearer(auto_error=False)


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """``SUTRA_API_TOKEN`` (the default organisation's) or a token made on an organisation's
    settings page, which acts in that organisation alone; a viewer's token only reads."""
    scope = await token_scope(request)
    if scope is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if scope[1] == "viewer" and request.method not in ("GET", "HEAD", "OPTIONS"):
        raise HTTPException(403, "a viewer's token cannot change anything")
    await app_state(request)  # state_of(request) is the token's organisation's from here on


router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)], tags=["api"])
# The databases' integers are 64-bit: a larger id or offset is a 422, not an overflow (500).
MAX_ID = 2**63 - 1
State = Annotated[AppState, Depends(app_state)]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- flows -------------------------------------------------------------------------------------


@router.post("/flows/import", status_code=201)
async def import_flows(request: Request, state: State) -> Any:
    """Import a flow file (bare definition, Glific or RapidPro export) sent as the JSON body."""
    try:
        body = jsonparse.loads(await request.body())
    except jsonparse.JSONTooDeep as exc:
        return JSONResponse(
            {"detail": str(exc), "errors": [{"path": exc.path, "message": exc.problem}]},
            status_code=422,
        )
    except ValueError as exc:
        raise HTTPException(422, f"$: body is not JSON: {exc}") from None
    try:
        flow_file = parse_flow_file(body, known_flows=await flowstore.flow_uuids(state.repo))
    except FlowFileError as exc:
        problems = [{"path": i.path, "message": i.message} for i in exc.issues]
        return JSONResponse({"detail": str(exc.issues[0]), "errors": problems}, status_code=422)
    imported = await state.repo.import_flow_file(flow_file, created_by="api")
    state.runner.invalidate()
    return {
        "flows": [
            {"uuid": f.uuid, "name": f.name, "revision": f.revision, "keywords": f.keywords}
            for f in imported
        ],
        "warnings": [str(w) for w in flow_file.warnings],
    }


def _flow_json(flow: m.Flow, *, definition: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uuid": flow.uuid,
        "name": flow.name,
        "keywords": flow.keywords or [],
        "archived": flow.archived,
        "revision": flow.current_revision.revision if flow.current_revision else None,
        "created_at": _time(flow.created_at),
        "updated_at": _time(flow.updated_at),
    }
    if definition and flow.current_revision:
        out["definition"] = flow.current_revision.definition
    return out


async def _flow(state: AppState, uuid: str) -> m.Flow:
    async with state.repo.sessions() as db:
        flow = await db.scalar(
            select(m.Flow)
            .where(m.Flow.uuid == uuid, m.Flow.organization_id == state.repo.org)
            .options(selectinload(m.Flow.current_revision))
        )
    if flow is None or flow.archived:
        raise HTTPException(404, f"no flow {uuid}")
    return flow


@router.get("/flows")
async def list_flows(state: State) -> dict[str, Any]:
    """Every active flow, with its runs, completion rate and last activity."""
    async with state.repo.sessions() as db:
        flows = list(
            await db.scalars(
                select(m.Flow)
                .where(m.Flow.organization_id == state.repo.org, m.Flow.archived.is_(False))
                .options(selectinload(m.Flow.current_revision))
                .order_by(m.Flow.name)
            )
        )
    stats = await results.flow_stats(state.repo)
    none = results.FlowStats()
    return {"results": [{**_flow_json(f), **stats.get(f.uuid, none).json()} for f in flows]}


@router.get("/flows/{uuid}")
async def get_flow(uuid: str, state: State) -> dict[str, Any]:
    return _flow_json(await _flow(state, uuid), definition=True)


@router.delete("/flows/{uuid}", status_code=204)
async def delete_flow(uuid: str, state: State) -> Response:
    """Archive the flow: it stops running and disappears from lists; its history stays."""
    await _flow(state, uuid)
    async with state.repo.sessions.begin() as db:
        row = await db.scalar(
            select(m.Flow).where(m.Flow.uuid == uuid, m.Flow.organization_id == state.repo.org)
        )
        if row is not None:
            row.archived = True
    return Response(status_code=204)


class StartRequest(BaseModel):
    contacts: list[str] = Field(default=[], description="Contact uuids")
    urns: list[str] = Field(default=[], description='Contact urns, e.g. "whatsapp:9198..."')
    group: str | None = Field(default=None, description="A group's name or uuid")


@router.post("/flows/{uuid}/start", status_code=202)
async def start_flow(uuid: str, body: StartRequest, state: State) -> dict[str, Any]:
    """Start the flow for contacts (by uuid or urn) and/or every member of a group.

    The starts are stored (in batches, for a large group) before this answers, and run in turn
    with each contact's messages; ``GET /api/v1/broadcasts/{id}`` tells how far they are.
    ``POST /api/v1/broadcasts`` does the same and more: a filter, a set time.
    """
    await _flow(state, uuid)
    # Not validated again: a request body's size is its limit here, not a count.
    wanted = broadcaststore.BroadcastRequest.model_construct(
        flow=uuid,
        contacts=body.contacts,
        urns=body.urns,
        group=body.group,
        filter=None,
        send_at=None,
    )
    broadcast = await broadcaststore.create(state, wanted, "api")
    found = await broadcaststore.progress_of(state, broadcast)
    return {"flow": uuid, "contacts": found["total"] if found else 0, "broadcast": broadcast}


# --- contacts ----------------------------------------------------------------------------------


def _contact_json(contact: m.Contact) -> dict[str, Any]:
    return contactstore.contact_json(contact)


async def _contact(state: AppState, uuid: str) -> m.Contact:
    async with state.repo.sessions() as db:
        contact = await db.scalar(
            select(m.Contact)
            .where(m.Contact.uuid == uuid, m.Contact.organization_id == state.repo.org)
            .options(selectinload(m.Contact.groups))
        )
    if contact is None:
        raise HTTPException(404, f"no contact {uuid}")
    return contact


@router.get("/contacts", response_model=None)
async def list_contacts(
    state: State,
    wanted: Annotated[ContactFilter, Query()],
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any] | StreamingResponse:
    """Contacts matching the filters (all of them without), most recently seen first, with
    ``total`` (how many match); ``?format=csv`` exports every match (limit and offset aside)."""
    if format == "csv":
        from sutra.web.contacts import export_response

        return export_response(state.repo, wanted)
    found = await contactstore.search(state.repo, wanted, limit=limit, offset=offset)
    return {"total": found.total, "results": [_contact_json(c) for c in found.contacts]}


@router.get("/contacts/{uuid}")
async def get_contact(uuid: str, state: State) -> dict[str, Any]:
    return _contact_json(await _contact(state, uuid))


@router.patch("/contacts/{uuid}")
async def update_contact(uuid: str, body: ContactUpdate, state: State) -> dict[str, Any]:
    """Change the name, language, status (``stopped``: opted out) or fields; a typed field's
    value is checked (a number, a date) and a wrong one is a 422 naming the field."""
    try:
        return _contact_json(await contactstore.update_contact(state.repo, uuid, body))
    except ContactError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/contacts/{uuid}/messages")
async def contact_messages(
    uuid: str, state: State, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    contact = await _contact(state, uuid)
    async with state.repo.sessions() as db:
        rows = await db.scalars(
            select(m.Message)
            .where(m.Message.contact_id == contact.id)
            .order_by(m.Message.id.desc())
            .limit(limit)
        )
        return {
            "results": [
                {
                    "uuid": r.uuid,
                    "direction": r.direction,
                    "text": r.text,
                    "attachments": r.attachments or [],
                    "quick_replies": r.quick_replies or [],
                    "labels": r.labels or [],
                    "channel": r.channel,
                    "status": r.status,
                    "error": r.error,
                    "flow_uuid": r.flow_uuid,
                    "created_at": _time(r.created_at),
                }
                for r in rows
            ]
        }


# --- results and logs --------------------------------------------------------------------------


@router.get("/flows/{uuid}/results", response_model=None)
async def flow_results(
    uuid: str,
    state: State,
    wanted: Annotated[results.ResultFilter, Query()],
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    layout: Annotated[results.Layout, Query()] = "results",
) -> dict[str, Any] | Response:
    """One row per result (``layout=runs``: per run, a column per result, as the results page
    shows); ``?format=csv`` or ``xlsx`` for a spreadsheet. Filters: ``category``
    (``key:Category``), ``since`` and ``until`` (UTC days of the run's start)."""
    await _flow(state, uuid)
    if format == "json":
        return {"results": await results.result_rows(state.repo, uuid, wanted)}
    content, media = await results.download(state.repo, uuid, wanted, kind=format, layout=layout)
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="results-{uuid}.{format}"'},
    )


@router.get("/webhook-logs")
async def webhook_logs(
    state: State,
    flow: str | None = None,
    contact: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Every webhook and function call, newest first; secrets were redacted when stored."""
    async with state.repo.sessions() as db:
        query = (
            select(m.WebhookLog, m.Contact.uuid)
            .outerjoin(m.Contact, m.Contact.id == m.WebhookLog.contact_id)
            .where(m.WebhookLog.organization_id == state.repo.org)
            .order_by(m.WebhookLog.id.desc())
            .limit(limit)
        )
        if flow:
            query = query.where(m.WebhookLog.flow_uuid == flow)
        if contact:
            query = query.where(m.Contact.uuid == contact)
        rows = await db.execute(query)
        return {
            "results": [
                {
                    "contact": contact_uuid,
                    "flow": log.flow_uuid,
                    "result_name": log.result_name,
                    "method": log.method,
                    # Also for rows stored before URLs were redacted on the way in.
                    "url": redact_url(log.url),
                    "request": log.request,
                    "response": log.response,
                    "status_code": log.status_code,
                    "error": log.error,
                    "duration_ms": log.duration_ms,
                    "llm": {
                        "provider": log.llm_provider,
                        "model": log.llm_model,
                        "prompt_tokens": log.prompt_tokens,
                        "completion_tokens": log.completion_tokens,
                    }
                    if log.llm_provider
                    else None,
                    "created_at": _time(log.created_at),
                }
                for log, contact_uuid in rows
            ]
        }
