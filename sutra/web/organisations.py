"""The platform administrator's organisations page (``/organisations``) and its REST twin
(``/api/v1/organisations``): every organisation the install serves, a new one (with its first
administrator), disabling and enabling one. The work is :mod:`sutra.orgs.store`'s, as for
``sutra org create|list|disable``.

Only for the platform: on the page and ``/console/api/organisations``, a signed-in user made
with ``sutra user create --platform-admin``; on ``/api/v1/organisations``, the bearer
``SUTRA_PLATFORM_TOKEN``. Anyone else gets 404, as if there were no such page: an
organisation's own administrators are not told which other organisations exist.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from sutra.orgs import DEFAULT_ORG
from sutra.orgs import store as org_store
from sutra.orgs.settings import SettingsUpdate
from sutra.web.auth import SAFE_METHODS, PageUser, SignedIn, check_csrf, current_user, render
from sutra.web.console import Mirror, actor
from sutra.web.pages import page
from sutra.web.settings import _org_error
from sutra.web.state import base_state, bearer, token_scope

log = logging.getLogger(__name__)

OrgId = Annotated[int, Path(ge=1, le=2**63 - 1)]
NOT_FOUND = "Not Found"  # what FastAPI answers for a path it has no route for


async def platform_token(request: Request) -> None:
    """``/api/v1/organisations``: the platform's token only. No token or a wrong one is a
    401, as everywhere in the API; an organisation's own token is a 404."""
    configured = base_state(request).settings.sutra_platform_token
    expected = configured.get_secret_value() if configured is not None else ""
    given = bearer(request)
    if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
        return
    if await token_scope(request) is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise HTTPException(404, NOT_FOUND)


async def platform_user(request: Request) -> SignedIn:
    """``/console/api/organisations``: a signed-in platform administrator (CSRF-checked on
    changes, whatever role it has in the organisation it works in now), else 401 / 404."""
    user = await current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first (/login)")
    if not user.platform:
        raise HTTPException(404, NOT_FOUND)
    if request.method not in SAFE_METHODS:
        check_csrf(request, user)
    return user


pages = APIRouter(include_in_schema=False)
routes = Mirror("organisations", api_auth=platform_token, page_auth=platform_user)


class OrganisationIn(BaseModel):
    """A new organisation; with ``admin_email``, its first administrator (a new account needs
    ``admin_password``; an existing one keeps its own and is only given the role)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    timezone: str = Field(default="UTC", max_length=64, examples=["Asia/Kolkata"])
    admin_email: str | None = Field(default=None, max_length=320)
    admin_password: str | None = Field(default=None, max_length=1024)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # The settings page's and `sutra org create`'s check, so all three say the same.
        try:
            SettingsUpdate(timezone=value)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(str(first.get("ctx", {}).get("error", first["msg"]))) from None
        return value


async def _summary(request: Request, organization_id: int) -> dict[str, Any]:
    """One organisation as the list shows it (staff and contact counts included)."""
    for row in await org_store.list_orgs(base_state(request).repo.sessions):
        if row["id"] == organization_id:
            return row
    raise org_store.OrgError(f"no organisation {organization_id}", 404)


def _refresh(request: Request) -> None:
    # Webhooks and tokens route by the directory: this process sees the change at once
    # (the others within their refresh interval).
    directory = base_state(request).directory
    if directory is not None:
        directory.invalidate()


@routes.route("GET", "/organisations")
async def list_organisations(request: Request) -> dict[str, Any]:
    """Every organisation: id, name, time zone, active or not, staff and contact counts,
    WhatsApp number id. Platform administrator only."""
    return {"results": await org_store.list_orgs(base_state(request).repo.sessions)}


@routes.route("POST", "/organisations", status_code=201)
async def create_organisation(body: OrganisationIn, request: Request) -> dict[str, Any]:
    """Create an organisation, optionally with its first administrator (``admin``)."""
    email = (body.admin_email or "").strip()
    if not email and body.admin_password:
        raise org_store.OrgError("admin_email: give the administrator's email with the password")
    sessions = base_state(request).repo.sessions
    address = (
        await org_store.check_first_admin(sessions, email, body.admin_password) if email else None
    )
    org = await org_store.create_org(sessions, body.name, timezone=body.timezone)
    admin = None
    if address:
        admin = await org_store.add_member(
            sessions, org.id, address, "admin", password=body.admin_password or None
        )
    _refresh(request)
    log.info("organisation %d (%s) created by %s", org.id, org.name, actor(request))
    return {**await _summary(request, org.id), "admin": admin}


async def _set_active(request: Request, organization_id: int, active: bool) -> dict[str, Any]:
    org = await org_store.set_active(base_state(request).repo.sessions, organization_id, active)
    _refresh(request)
    done = "enabled" if active else "disabled"
    log.info("organisation %d (%s) %s by %s", org.id, org.name, done, actor(request))
    return await _summary(request, organization_id)


@routes.route("POST", "/organisations/{organization_id}/disable")
async def disable_organisation(organization_id: OrgId, request: Request) -> dict[str, Any]:
    """Stop serving an organisation: its webhooks, tokens and staff sign-ins are refused, its
    staff's browsers signed out; its data stays. The default organisation (1) cannot be."""
    return await _set_active(request, organization_id, False)


@routes.route("POST", "/organisations/{organization_id}/enable")
async def enable_organisation(organization_id: OrgId, request: Request) -> dict[str, Any]:
    """Serve a disabled organisation again."""
    return await _set_active(request, organization_id, True)


@pages.get("/organisations")
async def organisations_page(user: PageUser, request: Request) -> HTMLResponse:
    if not user.platform:
        raise HTTPException(404, NOT_FOUND)
    orgs = await org_store.list_orgs(base_state(request).repo.sessions)
    return page(render("organisations.html", user=user, orgs=orgs, default_org=DEFAULT_ORG))


def install(app: FastAPI) -> None:
    if org_store.OrgError not in app.exception_handlers:
        app.add_exception_handler(org_store.OrgError, _org_error)
    routes.install(app)
    app.include_router(pages)
