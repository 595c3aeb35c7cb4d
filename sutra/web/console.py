"""The operator console: contacts, broadcasts, a flow's results, AI usage.

Each thing a console page does is a JSON route written once and mounted twice: under
``/api/v1`` for programs (the bearer token) and under ``/console/api`` for the pages (the
signed-in session, with the CSRF header on changes). So the REST API can do whatever the pages
can, by construction. Problems a person can fix (:class:`ContactError`) answer with their 4xx
and a message that names the field or the CSV row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sutra.web.api import require_token
from sutra.web.auth import api_user
from sutra.web.contactstore import ContactError

PAGE_API = "/console/api"


class Mirror:
    """Routes added to both the REST API and the pages' JSON API."""

    def __init__(
        self,
        tag: str,
        *,
        api_auth: Callable[..., Any] = require_token,
        page_auth: Callable[..., Any] = api_user,
    ) -> None:
        self.api = APIRouter(prefix="/api/v1", dependencies=[Depends(api_auth)], tags=[tag])
        self.pages = APIRouter(
            prefix=PAGE_API, dependencies=[Depends(page_auth)], include_in_schema=False
        )

    def route(
        self, method: str, path: str, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            for router in (self.api, self.pages):
                router.add_api_route(path, endpoint, methods=[method], **options)
            return endpoint

        return add

    def install(self, app: FastAPI) -> None:
        app.include_router(self.api)
        app.include_router(self.pages)


def actor(request: Request) -> str:
    """Who made a change: the signed-in person's email, or "api" for the bearer token."""
    user = getattr(request.state, "sutra_user", None)
    return str(getattr(user, "email", None) or "api")


async def _contact_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ContactError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def install(app: FastAPI) -> None:
    """Add the console's pages and routes (after the REST API's own, which keep theirs)."""
    from sutra.web import (
        broadcasts,
        contacts,
        message_templates,
        organisations,
        results_pages,
        settings,
        triggers,
        usage,
    )

    if ContactError in app.exception_handlers:
        return
    app.add_exception_handler(ContactError, _contact_error)
    for module in (
        contacts,
        broadcasts,
        triggers,
        results_pages,
        usage,
        settings,
        organisations,
        message_templates,
    ):
        module.install(app)
