"""What the web app's routes share: built once at start-up, reached through the request.

Each request sees it scoped to one organisation (:func:`app_state`): the signed-in browser's
current organisation for pages, the bearer token's for ``/api/v1``, the default organisation
otherwise (channel webhooks route by number themselves). ``state.repo`` and ``state.runner``
are that organisation's, so every query written against ``state.repo.org`` is scoped.
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from sutra.config import ServerSettings
from sutra.orgs import DEFAULT_ORG
from sutra.runtime.pipeline import Pipeline
from sutra.runtime.runner import Runner
from sutra.store.repository import Repository

if TYPE_CHECKING:
    from sutra.orgs.directory import Directory


@dataclass
class AppState:
    settings: ServerSettings
    runner: Runner
    pipeline: Pipeline
    directory: Directory | None = None
    # Who this request acts as, in ``repo.org``: admin, staff or viewer.
    role: str = "admin"

    @property
    def repo(self) -> Repository:
        return self.runner.repo

    @property
    def org(self) -> int:
        return self.runner.repo.org

    def for_org(self, organization_id: int, role: str) -> AppState:
        runner = self.pipeline.runner_for(organization_id)
        return dataclasses.replace(self, runner=runner, role=role)


def base_state(request: Request) -> AppState:
    """The process-wide state (the default organisation's)."""
    state: AppState = request.app.state.sutra
    return state


def state_of(request: Request) -> AppState:
    """This request's state: scoped once :func:`app_state` ran, else the default one."""
    scoped: AppState | None = getattr(request.state, "sutra_state", None)
    return scoped if scoped is not None else base_state(request)


def bearer(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


async def token_scope(request: Request) -> tuple[int, str] | None:
    """The organisation and role of the request's bearer token; None when it has no valid one.
    ``SUTRA_API_TOKEN`` is the default organisation's administrator token."""
    if hasattr(request.state, "sutra_token_scope"):
        cached: tuple[int, str] | None = request.state.sutra_token_scope
        return cached
    from sutra.orgs import store as org_store

    given = bearer(request)
    found: tuple[int, str] | None = None
    configured = base_state(request).settings.sutra_api_token
    expected = configured.get_secret_value() if configured is not None else ""
    if given and expected and hmac.compare_digest(given.encode(), expected.encode()):
        found = (DEFAULT_ORG, "admin")
    if found is None and given:
        found = await org_store.token_scope(base_state(request).repo.sessions, given)
    request.state.sutra_token_scope = found
    return found


async def app_state(request: Request) -> AppState:
    """The dependency form of :func:`state_of`, scoped to the caller's organisation; async,
    because FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request."""
    scoped: AppState | None = getattr(request.state, "sutra_state", None)
    if scoped is not None:
        return scoped
    base = base_state(request)
    scope: tuple[int, str] | None
    if request.url.path.startswith("/api/"):
        scope = await token_scope(request)
    else:
        from sutra.web.auth import current_user

        user = await current_user(request)
        scope = None if user is None else (user.organization_id, user.role)
    state = base if scope is None else base.for_org(*scope)
    request.state.sutra_state = state
    return state
