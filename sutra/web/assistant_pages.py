"""The assistant pages: ``/assistants`` (the list, a new assistant) and ``/assistants/{id}``
(its settings and versions, its documents and what each passage says, and a question tried
with the passages it used). Every action is a call to ``/console/api/assistants``, the twin of
the REST API's ``/api/v1/assistants`` (:mod:`sutra.web.assistants`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from sutra.assistants.extract import MAX_BYTES
from sutra.assistants.store import DEFAULT_MODEL, AssistantError, Assistants
from sutra.web.assistants import page_router
from sutra.web.auth import PageUser, render
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

State = Annotated[AppState, Depends(app_state)]
pages = APIRouter(include_in_schema=False)


def _assistants(state: AppState) -> Assistants:
    return Assistants(state.repo.sessions, state.repo.org)


@pages.get("/assistants")
async def assistants_page(user: PageUser, state: State) -> HTMLResponse:
    found = await _assistants(state).list()
    return page(render("assistants.html", user=user, assistants=found, model=DEFAULT_MODEL))


@pages.get("/assistants/{key}")
async def assistant_page(key: str, user: PageUser, state: State) -> HTMLResponse:
    assistants = _assistants(state)
    try:
        assistant = await assistants.get(key)
        versions = await assistants.versions(key)
        documents = await assistants.documents(key)
    except AssistantError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    html = render(
        "assistant.html",
        user=user,
        assistant=assistant,
        versions=list(reversed(versions)),
        documents=documents,
        max_mb=MAX_BYTES // 2**20,
    )
    return page(html)


def install(app: FastAPI) -> None:
    app.include_router(page_router)
    app.include_router(pages)
