"""The settings page (``/settings``) and its REST twin (``/api/v1/settings...``): the
organisation, its LLM and budgets, its channels and their status, its staff, its API tokens.

Reading is for every member; changing is for the organisation's administrators. Secrets are
write-only: the page and the API show whether one is set and its last 4 characters, never
more. A new API token is shown once, in the answer that made it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from sutra.orgs import DEFAULT_ORG, ROLES
from sutra.orgs import store as org_store
from sutra.orgs.channels import ChannelConfig, channel_config
from sutra.orgs.settings import SettingsUpdate, mask, shown
from sutra.store import models as m
from sutra.web.auth import ApiUser, PageUser, render
from sutra.web.console import Mirror, actor
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

State = Annotated[AppState, Depends(app_state)]
pages = APIRouter(include_in_schema=False)
routes = Mirror("settings")


def _admin(state: AppState) -> None:
    if state.role != "admin":
        raise HTTPException(403, "only this organisation's administrators can change settings")


async def _org_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, org_store.OrgError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def _public_base(state: AppState, request: Request) -> str:
    return (state.settings.sutra_public_url or str(request.base_url)).rstrip("/")


async def _channel_status(state: AppState, channel: str, missing: list[str]) -> dict[str, Any]:
    async with state.repo.sessions() as db:
        last_in = await db.scalar(
            select(func.max(m.Message.created_at)).where(
                m.Message.organization_id == state.org,
                m.Message.channel == channel,
                m.Message.direction == "in",
            )
        )
        failed = (
            await db.execute(
                select(m.Message.error, m.Message.updated_at)
                .where(
                    m.Message.organization_id == state.org,
                    m.Message.channel == channel,
                    m.Message.direction == "out",
                    m.Message.status == "failed",
                )
                .order_by(m.Message.id.desc())
                .limit(1)
            )
        ).first()
    return {
        "configured": not missing,
        "missing": missing,
        "last_message_in": last_in.isoformat() if last_in else None,
        "last_error": failed[0] if failed else None,
        "last_error_at": failed[1].isoformat() if failed and failed[1] else None,
    }


async def overview(state: AppState, request: Request) -> dict[str, Any]:
    """Everything the settings page shows, secrets masked."""
    org = await org_store.get_org(state.repo.sessions, state.org)
    stored = dict(org.settings or {})
    config: ChannelConfig = channel_config(state.org, stored, state.settings)
    base = _public_base(state, request)
    whatsapp = await _channel_status(state, "whatsapp", config.whatsapp_missing())
    whatsapp.update(
        phone_number_id=config.whatsapp_phone_number_id,
        business_account_id=config.whatsapp_business_account_id,
        access_token=mask(config.whatsapp_access_token),
        app_secret=mask(config.whatsapp_app_secret),
        webhook_url=f"{base}/webhooks/whatsapp",
        verify_token=mask(
            state.settings.whatsapp_verify_token.get_secret_value()
            if state.settings.whatsapp_verify_token
            else None
        ),
    )
    gupshup = await _channel_status(state, "gupshup", config.gupshup_missing())
    gupshup.update(
        app_name=config.gupshup_app_name,
        source_number=config.gupshup_source_number,
        api_key=mask(config.gupshup_api_key),
        callback_token=mask(config.gupshup_webhook_token),
        webhook_url=f"{base}/webhooks/gupshup?token=<the callback token>",
    )
    return {
        "organization": {
            "id": org.id,
            "name": org.name,
            "timezone": org.timezone,
            "default": org.id == DEFAULT_ORG,
        },
        "settings": shown(stored),
        "channels": {"whatsapp": whatsapp, "gupshup": gupshup},
        "role": state.role,
    }


@routes.route("GET", "/settings")
async def settings_json(state: State, request: Request) -> dict[str, Any]:
    """The organisation's settings (secrets masked) and its channels' status."""
    return await overview(state, request)


@routes.route("PATCH", "/settings")
async def change_settings(state: State, request: Request, update: SettingsUpdate) -> dict[str, Any]:
    """Change settings: only the keys given; an empty string clears one. Administrators."""
    _admin(state)
    number = state.settings.whatsapp_phone_number_id
    await org_store.update_settings(
        state.repo.sessions, state.org, update, reserved_whatsapp=number
    )
    if state.directory is not None:
        state.directory.invalidate()
    return await overview(state, request)


# --- staff -------------------------------------------------------------------------------------


class StaffIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    role: str = Field(default="staff", pattern=f"^({'|'.join(ROLES)})$")
    name: str | None = Field(default=None, max_length=200)
    # Only for an address with no account yet: its first password.
    password: str | None = Field(default=None, max_length=1024)


@routes.route("GET", "/settings/staff")
async def staff_list(state: State) -> list[dict[str, Any]]:
    """The organisation's staff, with their role."""
    return await org_store.list_members(state.repo.sessions, state.org)


@routes.route("POST", "/settings/staff", status_code=201)
async def staff_add(state: State, body: StaffIn) -> dict[str, Any]:
    """Add a person (a new account needs ``password``) or change their role."""
    _admin(state)
    return await org_store.add_member(
        state.repo.sessions,
        state.org,
        body.email,
        body.role,
        password=body.password,
        name=body.name,
    )


@routes.route("DELETE", "/settings/staff/{email}", status_code=204)
async def staff_remove(state: State, email: str) -> Response:
    """Take a person out of this organisation (their account stays for the others)."""
    _admin(state)
    await org_store.remove_member(state.repo.sessions, state.org, email)
    return Response(status_code=204)


# --- API tokens --------------------------------------------------------------------------------


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(default="staff", pattern=f"^({'|'.join(ROLES)})$")


@routes.route("GET", "/settings/tokens")
async def tokens_list(state: State) -> list[dict[str, Any]]:
    """The organisation's API tokens: name, role, last 4 characters, use, revocation."""
    return await org_store.list_tokens(state.repo.sessions, state.org)


@routes.route("POST", "/settings/tokens", status_code=201)
async def tokens_create(state: State, request: Request, body: TokenIn) -> dict[str, Any]:
    """A new token for this organisation; ``token`` is in this answer only."""
    _admin(state)
    token, row = await org_store.create_token(
        state.repo.sessions, state.org, body.name, role=body.role, created_by=actor(request)
    )
    return {"token": token, **org_store.token_json(row)}


@routes.route("DELETE", "/settings/tokens/{uuid}", status_code=204)
async def tokens_revoke(state: State, uuid: str) -> Response:
    """Revoke a token: it is refused from the next request on."""
    _admin(state)
    await org_store.revoke_token(state.repo.sessions, state.org, uuid)
    return Response(status_code=204)


# --- the pages ---------------------------------------------------------------------------------


@pages.get("/settings")
async def settings_page(user: PageUser, state: State, request: Request) -> HTMLResponse:
    data = await overview(state, request)
    staff = await org_store.list_members(state.repo.sessions, state.org)
    tokens = await org_store.list_tokens(state.repo.sessions, state.org)
    html = render("settings.html", user=user, data=data, staff=staff, tokens=tokens, roles=ROLES)
    return page(html)


class SwitchIn(BaseModel):
    organization_id: int = Field(ge=1, le=2**63 - 1)


@pages.post("/orgs/switch")
async def switch_org(request: Request, user: ApiUser, body: SwitchIn) -> dict[str, Any]:
    """Work in another of the user's organisations (the header's switcher)."""
    sessions = request.app.state.sutra.repo.sessions
    await org_store.switch(sessions, user.session_id, user.user_id, body.organization_id)
    return {"organization_id": body.organization_id}


def install(app: FastAPI) -> None:
    if org_store.OrgError not in app.exception_handlers:
        app.add_exception_handler(org_store.OrgError, _org_error)
    routes.install(app)
    app.include_router(pages)
