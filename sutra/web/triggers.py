"""The Triggers page (``/triggers``) and its JSON routes, for the page and the REST API alike
(:mod:`sutra.web.console`): keywords per flow, the "no flow matched" catch-all, schedules.
The work is :mod:`sutra.web.triggerstore`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.responses import HTMLResponse

from sutra.recurrence import DAYS
from sutra.web import triggerstore
from sutra.web.auth import PageUser, render
from sutra.web.broadcasts import _flows
from sutra.web.console import Mirror, actor
from sutra.web.contactstore import ContactError, groups
from sutra.web.pages import page
from sutra.web.state import AppState, app_state
from sutra.web.triggerstore import CatchAllRequest, ScheduleChange, ScheduleRequest

State = Annotated[AppState, Depends(app_state)]
ScheduleId = Annotated[int, Path(ge=1, le=2**63 - 1)]
pages = APIRouter(include_in_schema=False)
routes = Mirror("triggers")


@routes.route("GET", "/triggers")
async def list_triggers(state: State) -> dict[str, Any]:
    """Every trigger of the organisation: each flow's keywords, the catch-all flow (started
    when a message matches no keyword and no flow waits for it; null: none) and the
    schedules, each with its next run."""
    return {
        "keywords": await triggerstore.keyword_triggers(state),
        "catch_all": await triggerstore.catch_all(state),
        "schedules": await triggerstore.schedules(state),
        "timezone": await triggerstore.org_timezone(state),
    }


@routes.route("PUT", "/triggers/catch-all")
async def set_catch_all(body: CatchAllRequest, state: State) -> dict[str, Any]:
    """Choose the flow a message starts when it matches no keyword and no flow waits for it
    (not for contacts who opted out, nor while staff have the chat); ``{"flow": null}`` for
    none."""
    return {"catch_all": await triggerstore.set_catch_all(state, body)}


@routes.route("GET", "/triggers/schedules")
async def list_schedules(state: State) -> dict[str, Any]:
    """Scheduled triggers, each with its rule in words and its next run."""
    return {"results": await triggerstore.schedules(state)}


@routes.route("POST", "/triggers/schedules", status_code=201)
async def create_schedule(body: ScheduleRequest, request: Request, state: State) -> Any:
    """Start a flow for a group (or chosen contacts) every day or on some days of the week, at
    a time in the organisation's time zone, until an optional end date. Each occurrence is a
    broadcast, with its progress on the broadcasts page."""
    schedule_id = await triggerstore.create_schedule(state, body, actor(request))
    return await get_schedule(schedule_id, state)


@routes.route("GET", "/triggers/schedules/{schedule_id}")
async def get_schedule(schedule_id: ScheduleId, state: State) -> dict[str, Any]:
    """One schedule: its rule, whether enabled, the next and last run and the last broadcast."""
    found = await triggerstore.schedules(state, schedule_id)
    if not found:
        raise ContactError(f"no schedule {schedule_id}", status=404)
    return found[0]


@routes.route("PATCH", "/triggers/schedules/{schedule_id}")
async def change_schedule(
    schedule_id: ScheduleId, body: ScheduleChange, state: State
) -> dict[str, Any]:
    """Disable a schedule (``{"enabled": false}``) or enable it again (its next run from now)."""
    await triggerstore.change_schedule(state, schedule_id, body)
    return await get_schedule(schedule_id, state)


@routes.route("DELETE", "/triggers/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: ScheduleId, state: State) -> Response:
    """Delete a schedule; the broadcasts it launched stay."""
    await triggerstore.delete_schedule(state, schedule_id)
    return Response(status_code=204)


@pages.get("/triggers")
async def triggers_page(user: PageUser, state: State) -> HTMLResponse:
    return page(
        render(
            "triggers.html",
            user=user,
            flows=await _flows(state),
            groups=await groups(state.repo),
            keywords=await triggerstore.keyword_triggers(state),
            catch_all=await triggerstore.catch_all(state),
            schedules=await triggerstore.schedules(state),
            timezone=await triggerstore.org_timezone(state),
            days=[(d, triggerstore.DAY_NAMES[d]) for d in DAYS],
        )
    )


def install(app: FastAPI) -> None:
    routes.install(app)
    app.include_router(pages)
