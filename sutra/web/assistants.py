"""REST API for assistants under ``/api/v1/assistants`` (bearer token, like the rest of it),
and the same under ``/console/api/assistants`` for the assistant pages (signed-in staff).

Create, list, read and update assistants (an update adds a version; ``live`` makes it the one
flows use), upload, list and delete documents, read a document's passages, and ask a question:
``POST /api/v1/assistants/{id}/ask`` answers with the passages it used.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from sutra.assistants.extract import MAX_BYTES
from sutra.assistants.retrieval import Mode
from sutra.assistants.store import DEFAULT_MODEL, AssistantError, Assistants
from sutra.functions.registry import FunctionCall, FunctionError
from sutra.functions.services import Services
from sutra.web.api import require_token
from sutra.web.auth import api_user
from sutra.web.state import AppState, app_state

# The routes, mounted twice: the REST API (bearer token) and the pages' JSON API (the signed-in
# user, CSRF-checked), so that every action on the assistant pages is also in the REST API.
routes = APIRouter(prefix="/assistants", tags=["assistants"])
State = Annotated[AppState, Depends(app_state)]
DocumentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ASK_FUNCTION = "assistant:ask"


def _assistants(state: AppState) -> Assistants:
    return Assistants(state.repo.sessions, state.repo.org)


def _fail(exc: AssistantError | FunctionError) -> HTTPException:
    return HTTPException(exc.status if 400 <= exc.status < 600 else 500, exc.reason)


class CreateAssistant(BaseModel):
    name: str = Field(min_length=1)
    instructions: str = ""
    model: str = DEFAULT_MODEL
    temperature: float = Field(default=0.0, ge=0, le=2)
    dont_know: str | None = Field(default=None, description="What it says when it cannot tell")
    id: str | None = Field(
        default=None, description="Keep a Glific flow's assistant_id (asst_…); made up if absent"
    )


class UpdateAssistant(BaseModel):
    name: str | None = None
    instructions: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    dont_know: str | None = None
    live: bool = Field(default=False, description="Make the new version live at once")


class Question(BaseModel):
    question: str = Field(min_length=1)
    thread_id: str | None = None
    version: int | None = Field(default=None, ge=1, description="A version other than the live")
    retrieval: Mode = "hybrid"


@routes.post("", status_code=201)
async def create_assistant(body: CreateAssistant, state: State) -> dict[str, Any]:
    try:
        created = await _assistants(state).create(
            body.name,
            instructions=body.instructions,
            model=body.model,
            temperature=body.temperature,
            dont_know=body.dont_know,
            key=body.id,
        )
    except AssistantError as exc:
        raise _fail(exc) from None
    return created.json()


@routes.get("")
async def list_assistants(state: State) -> dict[str, Any]:
    return {"results": [a.json() for a in await _assistants(state).list()]}


@routes.get("/{key}")
async def get_assistant(key: str, state: State) -> dict[str, Any]:
    assistants = _assistants(state)
    try:
        found = await assistants.get(key)
        versions = await assistants.versions(key)
    except AssistantError as exc:
        raise _fail(exc) from None
    return {**found.json(), "all_versions": [v.json() for v in versions]}


@routes.patch("/{key}")
async def update_assistant(key: str, body: UpdateAssistant, state: State) -> dict[str, Any]:
    """Rename it, or add a version with the changed settings (live with ``"live": true``)."""
    try:
        updated = await _assistants(state).update(
            key,
            name=body.name,
            instructions=body.instructions,
            model=body.model,
            temperature=body.temperature,
            dont_know=body.dont_know,
            make_live=body.live,
        )
    except AssistantError as exc:
        raise _fail(exc) from None
    return updated.json()


@routes.post("/{key}/versions/{number}/live")
async def make_live(
    key: str, number: Annotated[int, Path(ge=1, le=2**31 - 1)], state: State
) -> dict[str, Any]:
    try:
        return (await _assistants(state).make_live(key, number)).json()
    except AssistantError as exc:
        raise _fail(exc) from None


@routes.post("/{key}/documents", status_code=201)
async def upload_document(
    key: str,
    request: Request,
    state: State,
    name: Annotated[str | None, Query(description="The file name, for a raw body")] = None,
) -> dict[str, Any]:
    """A document for the knowledge base: a multipart form's ``file``, or the raw body with
    ``?name=``. PDF, DOCX, XLSX, CSV, HTML, Markdown or text, up to 20 MB."""
    from sutra.assistants.indexing import add_document

    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_BYTES + 1)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "the form has no file (send it as 'file')")
        filename = upload.filename or name or "document"
        data = await upload.read(MAX_BYTES + 1)
    else:
        if not name:
            raise HTTPException(422, "name the document: ?name=faq.pdf (or send a form)")
        filename, data = name, await _read(request)
    if len(data) > MAX_BYTES:
        raise HTTPException(413, f"{filename} is larger than {MAX_BYTES // 2**20} MB")
    try:
        document = await add_document(_assistants(state), key, filename, data)
    except AssistantError as exc:
        raise _fail(exc) from None
    return document.json()


async def _read(request: Request) -> bytes:
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > MAX_BYTES:
            break
    return bytes(data)


@routes.get("/{key}/documents")
async def list_documents(key: str, state: State) -> dict[str, Any]:
    try:
        return {"results": [d.json() for d in await _assistants(state).documents(key)]}
    except AssistantError as exc:
        raise _fail(exc) from None


@routes.delete("/{key}/documents/{document_id}", status_code=204)
async def delete_document(key: str, document_id: DocumentId, state: State) -> Response:
    try:
        await _assistants(state).delete_document(key, document_id)
    except AssistantError as exc:
        raise _fail(exc) from None
    return Response(status_code=204)


@routes.get("/{key}/documents/{document_id}/chunks")
async def list_chunks(key: str, document_id: DocumentId, state: State) -> dict[str, Any]:
    try:
        return {"results": await _assistants(state).chunks(key, document_id)}
    except AssistantError as exc:
        raise _fail(exc) from None


@routes.post("/{key}/ask")
async def ask(key: str, body: Question, state: State) -> dict[str, Any]:
    """Answer a question from the documents; the answer cites them and lists the passages."""
    from sutra.assistants.answer import ask as answer
    from sutra.config import get_settings
    from sutra.functions.filesearch import new_thread_id
    from sutra.llm.memory import Memory

    sessions = state.repo.sessions
    running = state.runner.services
    # Counted at once (the runner's services defer usage to the step that made it).
    services = Services(llm=running.llm, db=sessions, settings=running.settings)
    call = FunctionCall(fields={"organization_id": state.repo.org}, services=services)
    config = get_settings()
    thread_id = (body.thread_id or "").strip() or new_thread_id(key)
    thread = Memory(
        sessions, max_turns=config.llm_memory_turns, max_tokens=config.llm_memory_tokens
    ).thread(organization_id=state.repo.org, contact_id=None, thread_id=thread_id)
    try:
        answered = await answer(
            call,
            _assistants(state),
            key,
            body.question,
            function=ASK_FUNCTION,
            thread=thread,
            version=body.version,
            mode=body.retrieval,
        )
    except (AssistantError, FunctionError) as exc:
        raise _fail(exc) from None
    return {**answered.json(), "thread_id": thread_id}


router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])
router.include_router(routes)
page_router = APIRouter(
    prefix="/console/api", dependencies=[Depends(api_user)], include_in_schema=False
)
page_router.include_router(routes)
