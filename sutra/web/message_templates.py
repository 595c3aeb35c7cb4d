"""The Templates page (``/templates``) and its REST twin (``/api/v1/templates...``): the
organisation's WhatsApp message templates (HSM), synced from its Business Account.

``GET /api/v1/templates`` lists them (status, language, category, body, variables); ``POST
/api/v1/templates/sync`` fetches them again from Meta. Only ``APPROVED`` ones can be sent (from a
chat: ``POST /api/v1/chats/{uuid}/templates``). A sync that cannot be done answers with what to
fix — a setting that is not set (409), the token Meta refused or the account it does not know
(502) — and is logged the same way, the token never in either.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sutra.channels.templates import TemplateError
from sutra.web import templatestore
from sutra.web.auth import PageUser, render
from sutra.web.console import Mirror
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

log = logging.getLogger(__name__)
State = Annotated[AppState, Depends(app_state)]
pages = APIRouter(include_in_schema=False)
routes = Mirror("templates")


async def _template_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TemplateError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _listed(state: AppState) -> dict[str, Any]:
    rows = await templatestore.list_templates(state.repo.sessions, state.org)
    synced = max((r.synced_at for r in rows if r.synced_at), default=None)
    return {
        "results": [templatestore.template_json(r) for r in rows],
        "synced_at": synced.isoformat() if synced else None,
    }


@routes.route("GET", "/templates")
async def templates_json(state: State) -> dict[str, Any]:
    """The organisation's WhatsApp templates as last synced; ``sendable`` ones are APPROVED."""
    return await _listed(state)


@routes.route("POST", "/templates/sync")
async def sync_templates(state: State) -> dict[str, Any]:
    """Fetch the templates from the WhatsApp Business Account again and store them."""
    if state.role == "viewer":
        raise HTTPException(403, "viewers cannot sync templates")
    try:
        result = await templatestore.sync(state.repo.sessions, state.org, state.settings)
    except TemplateError as exc:
        log.warning("organisation %s: templates not synced: %s", state.org, exc)
        raise
    log.info(
        "organisation %s: %d templates synced (%d approved, %d removed)",
        state.org,
        result.templates,
        result.approved,
        result.removed,
    )
    return {
        "synced": result.templates,
        "approved": result.approved,
        "removed": result.removed,
        **await _listed(state),
    }


@pages.get("/templates")
async def templates_page(user: PageUser, state: State) -> HTMLResponse:
    data = await _listed(state)
    return page(render("templates.html", user=user, data=data))


def install(app: FastAPI) -> None:
    if TemplateError not in app.exception_handlers:
        app.add_exception_handler(TemplateError, _template_error)
    routes.install(app)
    app.include_router(pages)
