"""Tickets: contacts a flow handed to a person (``open_ticket``), for staff to answer and close.

* ``GET /tickets[?status=open|closed]`` the organisation's tickets, newest first: topic, the
  contact (a link to their chat), what the flow wrote, who it is for, when it was opened;
  ``POST /tickets/{uuid}/close`` (signed in, CSRF header) closes one from the page.
* The chat page shows the contact's open tickets above the history, each with a close button.
* ``GET /api/v1/tickets[?status=&contact=&limit=&offset=]`` and
  ``POST /api/v1/tickets/{uuid}/close`` are the same under the bearer token.

A flow opens tickets in its step's transaction (:mod:`sutra.store.work.sprint`); closing is a
unit of work on the hot path's database thread, like the chat's other writes. Closing a closed
ticket changes nothing and answers it as it is. Once a contact's ticket is closed, a RapidPro
flow may open them another (goflow opens one only while none is open).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import HTMLResponse

from sutra.web.api import require_token
from sutra.web.auth import ApiUser, PageUser, render
from sutra.web.chats import MAX_ID, Uuid
from sutra.web.pages import page
from sutra.web.state import AppState, app_state
from sutra.web.ticketstore import close, ticket_json, ticket_view, tickets

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)], tags=["tickets"])
State = Annotated[AppState, Depends(app_state)]

Status = Literal["open", "closed"]
StatusQuery = Annotated[Status, Query(description="open or closed")]


def install(app: FastAPI) -> None:
    app.include_router(api_router)
    app.include_router(router)


# --- pages -------------------------------------------------------------------------------------


@router.get("/tickets")
async def tickets_page(user: PageUser, state: State, status: StatusQuery = "open") -> HTMLResponse:
    found = await tickets(state.repo, status=status)
    items = [ticket_view(t, c) for t, c in found]
    return page(render("tickets.html", user=user, items=items, status=status))


@router.post("/tickets/{uuid}/close")
async def close_from_page(uuid: Uuid, user: ApiUser, state: State) -> dict[str, Any]:
    ticket, who = await close(state, uuid, user.display_name)
    return ticket_json(ticket, who)


# --- REST --------------------------------------------------------------------------------------


@api_router.get("/tickets")
async def list_tickets(
    state: State,
    status: StatusQuery = "open",
    contact: Annotated[
        str | None, Query(pattern=r"^[0-9A-Za-z-]{1,64}$", description="a contact's uuid")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """Tickets flows opened (``open_ticket``), newest first: open ones by default."""
    found = await tickets(
        state.repo, status=status, contact_uuid=contact, limit=limit, offset=offset
    )
    return {"results": [ticket_json(t, c) for t, c in found]}


@api_router.post("/tickets/{uuid}/close")
async def close_by_api(uuid: Uuid, state: State) -> dict[str, Any]:
    """Close the ticket (a closed one is answered as it is)."""
    ticket, who = await close(state, uuid, "API")
    return ticket_json(ticket, who)
