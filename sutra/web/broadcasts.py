"""Start a flow for many contacts (``/broadcasts``): the list, the form, a broadcast's live
progress; and their JSON routes, for the pages and the REST API alike
(:mod:`sutra.web.console`). The work is :mod:`sutra.web.broadcaststore`'s.

``POST /api/v1/flows/{uuid}/start`` (in :mod:`sutra.web.api`) is the older, smaller way in;
both store the same broadcasts.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from sutra.store import models as m
from sutra.web import broadcaststore, contactstore
from sutra.web.auth import PageUser, render
from sutra.web.broadcaststore import BroadcastRequest
from sutra.web.console import Mirror, actor
from sutra.web.contactstore import ContactError, ContactFilter
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

State = Annotated[AppState, Depends(app_state)]
BroadcastId = Annotated[int, Path(ge=1, le=2**63 - 1)]
pages = APIRouter(include_in_schema=False)
routes = Mirror("broadcasts")
PAGE_SIZE = 20


# --- JSON ------------------------------------------------------------------------------------


@routes.route("GET", "/broadcasts")
async def list_broadcasts(
    state: State,
    limit: Annotated[int, Query(ge=1, le=100)] = PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> dict[str, Any]:
    """Broadcasts, newest first, each with its progress."""
    total, listed = await broadcaststore.recent(state, limit=limit, offset=offset)
    return {"total": total, "results": [{**b.progress, "flow_name": b.flow_name} for b in listed]}


@routes.route("POST", "/broadcasts", status_code=202)
async def create_broadcast(body: BroadcastRequest, request: Request, state: State) -> Any:
    """Start a flow for chosen contacts (uuids or urns), a group and/or everyone matching a
    filter (the contact list's); at ``send_at`` or now. Its starts are stored before this
    answers (a set time: the broadcast, which survives restarts); contacts who opted out are
    skipped when their turn comes."""
    broadcast = await broadcaststore.create(state, body, actor(request))
    return await get_broadcast(broadcast, state)


@routes.route("GET", "/broadcasts/audience")
async def audience(state: State, wanted: Annotated[ContactFilter, Query()]) -> dict[str, Any]:
    """How many contacts the filter matches now, and how many of them opted in."""
    everyone = await broadcaststore.audience(state, wanted)
    opted_in = everyone
    if wanted.status != "active":
        opted_in = await broadcaststore.audience(
            state, wanted.model_copy(update={"status": "active"})
        )
    return {"contacts": everyone, "opted_in": opted_in}


@routes.route("GET", "/broadcasts/{broadcast_id}")
async def get_broadcast(broadcast_id: BroadcastId, state: State) -> dict[str, Any]:
    """How far a broadcast is: its status (scheduled, starting, started, cancelled, failed),
    contacts in all, started, pending, skipped (opted out), and how many contacts its
    messages were sent to, delivered to, read by, failed for, and who replied."""
    found = await broadcaststore.progress_of(state, broadcast_id)
    if found is None:
        raise ContactError(f"no broadcast {broadcast_id}", status=404)
    return found


@routes.route("POST", "/broadcasts/{broadcast_id}/cancel")
async def cancel_broadcast(broadcast_id: BroadcastId, state: State) -> dict[str, Any]:
    """Cancel a scheduled broadcast before its time (409 once it has begun)."""
    await broadcaststore.cancel(state, broadcast_id)
    return await get_broadcast(broadcast_id, state)


# --- pages -----------------------------------------------------------------------------------


async def _flows(state: AppState) -> list[m.Flow]:
    async with state.repo.sessions() as db:
        return list(
            await db.scalars(
                select(m.Flow)
                .where(m.Flow.organization_id == state.repo.org, m.Flow.archived.is_(False))
                .order_by(m.Flow.name)
            )
        )


@pages.get("/broadcasts")
async def broadcasts_page(
    user: PageUser,
    state: State,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    total, listed = await broadcaststore.recent(
        state, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE
    )
    pages_count = max(1, math.ceil(total / PAGE_SIZE))
    return page(
        render(
            "broadcasts.html",
            user=user,
            listed=listed,
            total=total,
            page=page_number,
            pages=pages_count,
            previous_url=f"/broadcasts?page={page_number - 1}" if page_number > 1 else None,
            next_url=f"/broadcasts?page={page_number + 1}" if page_number < pages_count else None,
        )
    )


@pages.get("/broadcasts/new")
async def new_broadcast_page(
    user: PageUser,
    state: State,
    wanted: Annotated[ContactFilter, Query()],
    flow: Annotated[str, Query(max_length=200)] = "",
    contacts: Annotated[str, Query(max_length=400_000)] = "",
    everyone: bool = False,
) -> HTMLResponse:
    """The form; the contact list sends its filter (``?q=…&group=…``) or its picked contacts
    (``?contacts=uuid,uuid``) here."""
    chosen = [c for c in contacts.split(",") if c][: broadcaststore.MAX_CHOSEN]
    groups = await contactstore.groups(state.repo)
    # A filter on a group alone reads as "a group" on this page.
    group = ""
    only_group = wanted.model_dump(exclude={"group"}) == ContactFilter().model_dump(
        exclude={"group"}
    )
    if wanted.group and only_group:
        group, wanted = wanted.group, ContactFilter()
    matching = None
    if wanted.active or everyone:
        matching = {
            "contacts": await broadcaststore.audience(state, wanted),
            "opted_in": await broadcaststore.audience(
                state,
                wanted
                if wanted.status == "active"
                else wanted.model_copy(update={"status": "active"}),
            ),
        }
    choice = "chosen" if chosen else "filter" if matching is not None else "group"
    return page(
        render(
            "broadcast_new.html",
            user=user,
            flows=await _flows(state),
            flow=flow,
            groups=groups,
            group=group,
            chosen=chosen,
            wanted=wanted,
            filter_json=wanted.model_dump(),
            matching=matching,
            choice=choice,
            summary=_filter_summary(wanted, groups),
        )
    )


def _filter_summary(wanted: ContactFilter, groups: list[contactstore.GroupCount]) -> str:
    """The filter in words, e.g. ``group Mothers, language hin, seen in the last 7 days``."""
    names = {g.group.uuid: g.group.name for g in groups}
    parts = []
    if wanted.q:
        parts.append(f'name or phone contains "{wanted.q}"')
    if wanted.group:
        parts.append(f"group {names.get(wanted.group, wanted.group)}")
    if wanted.language:
        parts.append(f"language {wanted.language}")
    if wanted.status:
        parts.append(f"status {contactstore.STATUS_LABELS.get(wanted.status, wanted.status)}")
    if wanted.field:
        parts.append(f"{wanted.field} is {wanted.value!r}" if wanted.value else f"{wanted.field}")
    if wanted.seen:
        parts.append(f"last seen {contactstore.SEEN_LABELS.get(wanted.seen, wanted.seen)}")
    return ", ".join(parts) or "every contact"


@pages.get("/broadcasts/{broadcast_id}")
async def broadcast_page(broadcast_id: BroadcastId, user: PageUser, state: State) -> HTMLResponse:
    found = await broadcaststore.progress_of(state, broadcast_id)
    if found is None:
        raise ContactError(f"no broadcast {broadcast_id}", status=404)
    async with state.repo.sessions() as db:
        flow_name = await db.scalar(
            select(m.Flow.name).where(
                m.Flow.uuid == found["flow"], m.Flow.organization_id == state.repo.org
            )
        )
        group_name = None
        if (found["target"] or {}).get("group"):
            group_name = await db.scalar(
                select(m.Group.name).where(m.Group.uuid == found["target"]["group"])
            )
    return page(
        render(
            "broadcast.html",
            user=user,
            b=found,
            flow_name=flow_name or found["flow"],
            group_name=group_name,
        )
    )


def install(app: FastAPI) -> None:
    """The pages and routes, and the scheduler of broadcasts set for later, which runs while
    the app runs (and at start-up takes whatever fell due while it was down)."""
    routes.install(app)
    app.include_router(pages)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            sutra: AppState = app_.state.sutra
            scheduler = broadcaststore.Scheduler(sutra, every=sutra.pipeline.sweep_every)
            scheduler.start()
            try:
                yield state
            finally:
                await scheduler.stop()

    app.router.lifespan_context = lifespan
