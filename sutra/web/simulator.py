"""The web simulator: chat with a flow as a test contact, in the browser, on the live server.

``GET /simulator`` is a plain HTML/JS page (no build step, nothing fetched from the internet)
served from ``sutra/web/static``. It talks to the JSON endpoints under ``/simulator/api/``:

* ``GET  flows``                          the flows that can be started;
* ``POST start {flow_uuid, contact}``     start a flow for the test contact (answers at once);
* ``POST messages {contact, text}``       send a message as the contact;
* ``POST voice`` (form: contact, file)     send a voice note as the contact (:mod:`simvoice`);
* ``GET  messages?contact=&after=<id>``   messages in and out since ``after``, and whether a
  reply is still being worked on (the page's "typing…" indicator);
* ``GET  contact?contact=``               the contact's session, results and webhook log.

Test contacts have the urn ``sim:<name>``: the runner routes the ``sim`` scheme to the
simulator channel, which only stores replies, so nothing typed here can reach WhatsApp. A
message goes exactly the way a channel webhook's does (stored, then the pipeline is notified),
so the simulator exercises the same code as production, keywords, webhooks and GPT included.

Only signed-in staff may use it (:mod:`sutra.web.auth`): test contacts start real flows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from sutra.engine.session import Contact, Input
from sutra.redact import redact_url
from sutra.runtime import metrics
from sutra.runtime.media import MediaStore
from sutra.store import models as m
from sutra.store import work
from sutra.text import clean_text
from sutra.voice.settings import voice_settings
from sutra.web import auth, queries, simvoice
from sutra.web.attachments import typed
from sutra.web.auth import api_user, page_user
from sutra.web.state import AppState, app_state

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
PAGE_PATH = "/simulator"
STATIC_PATH = "/simulator/static"
CHANNEL = "sim"
URN_SCHEME = "sim"

router = APIRouter(tags=["simulator"])
State = Annotated[AppState, Depends(app_state)]
# Staff only: the page redirects to the sign-in form, the API answers 401 (and checks CSRF).
SignedInPage = [Depends(page_user)]
SignedIn = [Depends(api_user)]

# A name becomes the urn path ``sim:<name>``: letters (any script), digits, ``.``, ``_``, ``-``.
_NAME_PATTERN = r"^[\w.\-]+$"
ContactName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_NAME_PATTERN),
]
ContactQuery = Annotated[
    str, Query(min_length=1, max_length=64, pattern=_NAME_PATTERN, description="test contact name")
]


def mount(app: FastAPI) -> None:
    """Serve the page's script and style sheet under ``/simulator/static``."""
    if not any(getattr(route, "path", None) == STATIC_PATH for route in app.routes):
        app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="simulator-static")


def install(app: FastAPI) -> None:
    """Add the simulator (page, API, static files) to ``app``; a no-op if it is there already.

    Idempotent so that tests can call it on whatever ``create_app`` returns, whether or not
    ``create_app`` already installs the simulator itself.
    """
    # FastAPI copies an included router's routes (older releases) or keeps the router itself.
    if not any(
        getattr(route, "original_router", None) is router
        or getattr(route, "path", None) == PAGE_PATH
        for route in app.routes
    ):
        app.include_router(router)
    mount(app)
    auth.install(app)


def urn_for(name: str) -> str:
    return f"{URN_SCHEME}:{name}"


# --- the wire format ---------------------------------------------------------------------------


class FlowOut(BaseModel):
    uuid: str
    name: str
    keywords: list[str] = []


class FlowsOut(BaseModel):
    flows: list[FlowOut]


class StartIn(BaseModel):
    flow_uuid: str = Field(min_length=1, max_length=200)
    contact: ContactName


class StartOut(BaseModel):
    contact: str
    urn: str
    flow: FlowOut


class SendIn(BaseModel):
    contact: ContactName
    # WhatsApp's own limit on a text message; cleaned like a contact's (sutra.text).
    text: Annotated[str, AfterValidator(clean_text), Field(min_length=1, max_length=4096)]


class SendOut(BaseModel):
    id: int
    uuid: str
    # A voice note's: the page plays it at once, before the next poll.
    attachments: list[str] = []


class MessageOut(BaseModel):
    id: int
    uuid: str
    direction: str
    text: str
    quick_replies: list[str] = []
    attachments: list[str] = []
    # "quick_reply" or "list" for a Glific interactive message: the page draws them differently.
    interactive_type: str | None = None
    status: str
    error: str | None = None
    created_at: datetime


class MessagesOut(BaseModel):
    messages: list[MessageOut]
    # True while the contact's last message (or a start) is still being worked on.
    pending: bool
    # The id to pass as ``after`` next time (unchanged when nothing new arrived).
    last_id: int


class ContactOut(BaseModel):
    name: str | None
    urn: str
    language: str | None
    fields: dict[str, Any]
    groups: list[str]


class SessionOut(BaseModel):
    uuid: str
    status: str
    flow_uuid: str | None
    flow_name: str | None
    wait_kind: str | None
    wait_timeout_at: datetime | None
    expires_at: datetime | None
    created_at: datetime
    ended_at: datetime | None
    failure: str | None


class ResultOut(BaseModel):
    key: str
    name: str
    value: str
    category: str | None
    input: str | None
    flow_uuid: str
    flow_name: str | None
    updated_at: datetime
    # What else the result holds, e.g. a webhook's fields (``@results.gpt_response.parsed_msg``):
    # a webhook result has no value of its own, so these are what a tester wants to see.
    extra: dict[str, Any] = {}


class WebhookOut(BaseModel):
    id: int
    created_at: datetime
    method: str
    # The URL of an HTTP webhook, or the function's name for a FUNCTION call.
    url: str
    result_name: str | None
    status_code: int | None
    error: str | None
    duration_ms: float | None
    llm_provider: str | None
    llm_model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    # Already redacted by the runtime when the call was logged.
    request: dict[str, Any] | None
    response: dict[str, Any] | None


class ContactStateOut(BaseModel):
    contact: ContactOut | None
    session: SessionOut | None
    results: list[ResultOut]
    webhooks: list[WebhookOut]
    pending: bool
    # Why the last start failed, when it did (the start runs after its request has answered).
    start_error: str | None = None


# --- per-app bookkeeping -----------------------------------------------------------------------


class _Starts:
    """Starts under way in this process, and the last failure per contact.

    A start runs after its request has answered, so without this the page could not tell "the
    greeting is on its way" from "nothing is happening". Kept per app, not per module, so that
    two apps in one process (tests) do not see each other's starts.
    """

    def __init__(self) -> None:
        # Counted: a double click runs two starts, and the first to end must not hide the other.
        self.running: Counter[int] = Counter()
        self.errors: dict[int, str] = {}


def _starts(request: Request) -> _Starts:
    holder = request.app.state
    starts: _Starts | None = getattr(holder, "simulator_starts", None)
    if starts is None:
        starts = holder.simulator_starts = _Starts()
    return starts


Starts = Annotated[_Starts, Depends(_starts)]


# --- the page ----------------------------------------------------------------------------------


@router.get(PAGE_PATH, include_in_schema=False, dependencies=SignedInPage)
async def page() -> FileResponse:
    # no-cache: the page is tiny, and a stale copy after an upgrade would call old endpoints.
    return FileResponse(
        STATIC_DIR / "simulator.html",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


# --- the API -----------------------------------------------------------------------------------


@router.get("/simulator/api/flows", dependencies=SignedIn)
async def list_flows(state: State) -> FlowsOut:
    flows = await queries.active_flows(state.repo)
    return FlowsOut(
        flows=[FlowOut(uuid=f.uuid, name=f.name, keywords=list(f.keywords or [])) for f in flows]
    )


@router.post("/simulator/api/start", status_code=202, dependencies=SignedIn)
async def start_flow(
    body: StartIn, state: State, starts: Starts, background: BackgroundTasks
) -> StartOut:
    found = await state.repo.find_flow(body.flow_uuid)
    if found is None or found[0] != body.flow_uuid:
        raise HTTPException(404, f"no active flow with uuid {body.flow_uuid!r}")
    urn = urn_for(body.contact)
    contact = await state.repo.contact(urn, name=body.contact)
    assert contact.id is not None
    # Marked before answering, so the page's first poll already shows "typing…".
    starts.running[contact.id] += 1
    starts.errors.pop(contact.id, None)
    background.add_task(_run_start, state, starts, contact, body.flow_uuid)
    return StartOut(contact=body.contact, urn=urn, flow=FlowOut(uuid=found[0], name=found[1]))


async def _run_start(state: AppState, starts: _Starts, contact: Contact, flow_uuid: str) -> None:
    """Start the flow while holding the contact's pipeline lease.

    The pipeline handles one contact's work strictly in order under that lease; starting
    without it could race a message the pipeline is handling for the same contact and leave
    two sessions waiting. A separate owner name keeps the pipeline from treating the lease
    as its own, and a unique one keeps two starts (a double click) from sharing the lease.
    Runs as a background task: uvicorn waits for it on shutdown, before the lifespan closes
    the database.
    """
    assert contact.id is not None
    pipeline = state.pipeline
    owner = f"{pipeline.owner}:simulator:{uuid.uuid4().hex[:8]}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + pipeline.lease_seconds
    try:
        while not await pipeline.hold(contact.id, owner):
            if loop.time() > deadline:
                starts.errors[contact.id] = "the contact stayed busy; try again"
                return
            await asyncio.sleep(0.05)
        try:
            await state.runner.start(contact, flow_uuid)
        finally:
            await pipeline.let_go(contact.id, owner)
    except Exception as exc:
        log.exception("simulator: starting flow %s for %s failed", flow_uuid, contact.urn)
        starts.errors[contact.id] = f"{type(exc).__name__}: {exc}"
    finally:
        starts.running[contact.id] -= 1
        if starts.running[contact.id] <= 0:
            del starts.running[contact.id]
        # Whatever arrived while we held the lease was refused by the pipeline: look again.
        pipeline.notify(contact.id)


@router.post("/simulator/api/messages", status_code=202, dependencies=SignedIn)
async def send_message(body: SendIn, state: State) -> SendOut:
    if not body.text.strip():
        raise HTTPException(422, "the message is empty")
    return await _arrive(state, body.contact, Input(text=body.text))


@router.post("/simulator/api/voice", status_code=202, dependencies=SignedIn)
async def send_voice(
    state: State,
    contact: Annotated[
        str, Form(min_length=1, max_length=64, pattern=_NAME_PATTERN, description="test contact")
    ],
    file: Annotated[UploadFile, File(description="the voice note: OGG, WebM, MP3, WAV, M4A…")],
) -> SendOut:
    """A voice note from the contact, up to 16 MB, arriving as WhatsApp delivers one: OGG/Opus
    kept in the media folder, the message's attachment ``audio/ogg:<its URL>``."""
    try:
        data = await simvoice.voice_note(
            await file.read(simvoice.MAX_BYTES + 1),
            file.content_type or "",
            timeout=voice_settings().audio_timeout,
        )
    except simvoice.VoiceNoteError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    media = state.pipeline.media or MediaStore(
        Path(state.settings.sutra_media_dir), state.settings.sutra_public_url
    )
    url = await asyncio.to_thread(media.save, data, simvoice.OGG)
    return await _arrive(state, contact, Input(attachments=[f"{simvoice.OGG}:{url}"]))


async def _arrive(state: AppState, name: str, incoming: Input) -> SendOut:
    """Store ``incoming`` from the test contact ``name`` and wake the pipeline."""
    contact = await state.repo.contact(urn_for(name), name=name)
    assert contact.id is not None
    # Exactly what a channel webhook does, with a fresh external id standing in for the
    # provider's (the (channel, external_id) pair is what deduplicates deliveries).
    arrival = work.Arrival(
        organization_id=state.repo.org,
        urn=contact.urn or urn_for(name),
        channel=CHANNEL,
        message=incoming,
        name=name,
        external_id=f"sim-{uuid.uuid4()}",
    )
    [(_, stored)] = await state.runner.db.run(work.ingest, [arrival])
    if not stored:  # a uuid4 collision; nothing a user can do about it but retry
        raise HTTPException(409, "the message could not be stored; send it again")
    metrics.MESSAGES_IN.labels(CHANNEL).inc()
    state.pipeline.notify(contact.id)
    message_id = await queries.message_id(state.repo, incoming.uuid)
    assert message_id is not None
    return SendOut(id=message_id, uuid=incoming.uuid, attachments=incoming.attachments)


@router.get("/simulator/api/messages", dependencies=SignedIn)
async def poll_messages(
    state: State,
    starts: Starts,
    contact: ContactQuery,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> MessagesOut:
    row = await queries.contact_by_urn(state.repo, urn_for(contact))
    if row is None:
        return MessagesOut(messages=[], pending=False, last_id=after)
    messages = await queries.messages_after(state.repo, row.id, after)
    return MessagesOut(
        messages=[_message(message) for message in messages],
        pending=await _pending(state, starts, row),
        last_id=messages[-1].id if messages else after,
    )


@router.get("/simulator/api/contact", dependencies=SignedIn)
async def contact_state(state: State, starts: Starts, contact: ContactQuery) -> ContactStateOut:
    row = await queries.contact_by_urn(state.repo, urn_for(contact))
    if row is None:
        return ContactStateOut(contact=None, session=None, results=[], webhooks=[], pending=False)
    session = await queries.latest_session(state.repo, row.id)
    results = await queries.session_results(state.repo, session.uuid) if session else []
    names = await queries.flow_names(state.repo, {r.flow_uuid for r in results})
    logs = await queries.webhook_logs(state.repo, row.id)
    return ContactStateOut(
        contact=ContactOut(
            name=row.name,
            urn=row.urn,
            language=row.language,
            fields=dict(row.fields or {}),
            groups=sorted(g.name for g in row.groups),
        ),
        session=_session(session) if session else None,
        results=[
            ResultOut(
                key=r.key,
                name=r.name,
                value=r.value,
                category=r.category,
                input=r.input,
                flow_uuid=r.flow_uuid,
                flow_name=names.get(r.flow_uuid),
                updated_at=r.updated_at,
                extra=_result_extra(r.data),
            )
            for r in results
        ],
        webhooks=[_webhook(w) for w in logs],
        pending=await _pending(state, starts, row, session),
        start_error=starts.errors.get(row.id),
    )


# --- helpers -----------------------------------------------------------------------------------


async def _pending(
    state: AppState,
    starts: _Starts,
    contact: m.Contact,
    session: m.FlowSession | None = None,
) -> bool:
    """Whether a reply may still come without the contact doing anything.

    True while a start runs, while a message waits for the pipeline, or while the session
    waits on a webhook (a GPT call in flight). The runtime marks a message handled in the same
    transaction that stores the session's next wait, so there is no gap between the last two.
    The pipeline's lease on the contact is deliberately not used: a worker also holds it for a
    moment after the reply is stored, which would leave "typing…" on screen for no reason.
    """
    if starts.running[contact.id] > 0:
        return True
    if await queries.has_unhandled_inbound(state.repo, contact.id):
        return True
    if session is None:
        session = await queries.latest_session(state.repo, contact.id)
    return (
        session is not None
        and session.status == m.SessionStatus.WAITING.value
        and session.wait_kind == m.WaitKind.WEBHOOK.value
    )


def _message(row: m.Message) -> MessageOut:
    interactive = (row.payload or {}).get("interactive") if row.direction == "out" else None
    kind = interactive.get("type") if isinstance(interactive, dict) else None
    return MessageOut(
        id=row.id,
        uuid=row.uuid,
        direction=row.direction,
        text=row.text or "",
        quick_replies=[str(q) for q in row.quick_replies or []],
        # Typed as the channel would send them: a spoken answer plays, whatever the flow wrote.
        attachments=[typed(str(a)) for a in row.attachments or []],
        interactive_type=kind if isinstance(kind, str) else None,
        status=row.status,
        error=row.error,
        created_at=row.created_at,
    )


# The keys every result has; they are shown in their own columns already.
_RESULT_KEYS = frozenset({"value", "category", "input", "inserted_at", "name", "node_uuid"})


def _result_extra(data: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (data or {}).items() if k not in _RESULT_KEYS}


def _session(row: m.FlowSession) -> SessionOut:
    state = row.state or {}
    runs = [r for r in state.get("runs") or [] if isinstance(r, dict)]
    # The flow the contact is in now; once the session has ended, the flow it started in.
    current = next((r for r in reversed(runs) if r.get("flow_uuid") == row.current_flow_uuid), None)
    run = current or (runs[0] if runs else {})
    failure = state.get("failure")
    return SessionOut(
        uuid=row.uuid,
        status=row.status,
        flow_uuid=run.get("flow_uuid") or row.current_flow_uuid,
        flow_name=run.get("flow_name"),
        wait_kind=row.wait_kind if row.status == m.SessionStatus.WAITING.value else None,
        wait_timeout_at=row.wait_timeout_at,
        expires_at=row.expires_at,
        created_at=row.created_at,
        ended_at=row.ended_at,
        failure=str(failure) if failure else None,
    )


def _webhook(row: m.WebhookLog) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        created_at=row.created_at,
        method=row.method,
        url=redact_url(row.url),
        result_name=row.result_name,
        status_code=row.status_code,
        error=row.error,
        duration_ms=row.duration_ms,
        llm_provider=row.llm_provider,
        llm_model=row.llm_model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        request=row.request,
        response=row.response,
    )
