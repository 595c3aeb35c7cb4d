"""The contact pages (``/contacts``: list, profile, groups, fields, CSV import and export) and
their JSON routes, mounted for the pages and for the REST API alike (:mod:`sutra.web.console`).

``GET/PATCH /api/v1/contacts[/{uuid}]`` stay in :mod:`sutra.web.api` and call the same
functions (:mod:`sutra.web.contactstore`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from sutra.config import get_settings
from sutra.web import contactimport, contactstore
from sutra.web.auth import PageUser, render
from sutra.web.console import Mirror, actor
from sutra.web.contactstore import ContactError, ContactFilter, ContactUpdate
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

State = Annotated[AppState, Depends(app_state)]
pages = APIRouter(include_in_schema=False)
routes = Mirror("contacts")


def when(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M") if value else ""


# --- JSON: groups ------------------------------------------------------------------------------


class GroupName(BaseModel):
    name: str = Field(max_length=200)


class Members(BaseModel):
    add: list[str] = Field(default=[], description="Contact uuids to add", max_length=10_000)
    remove: list[str] = Field(
        default=[], description="Contact uuids to take out", max_length=10_000
    )


@routes.route("GET", "/groups")
async def list_groups(state: State) -> dict[str, Any]:
    """Every group, with its number of contacts."""
    return {"results": [contactstore.group_json(g) for g in await contactstore.groups(state.repo)]}


@routes.route("POST", "/groups", status_code=201)
async def create_group(body: GroupName, state: State) -> dict[str, Any]:
    row = await contactstore.create_group(state.repo, body.name)
    return contactstore.group_json(contactstore.GroupCount(row, 0))


@routes.route("PATCH", "/groups/{uuid}")
async def rename_group(uuid: str, body: GroupName, state: State) -> dict[str, Any]:
    """Rename a group (flows that add contacts to it by its old name make that group again)."""
    row = await contactstore.rename_group(state.repo, uuid, body.name)
    return {"uuid": row.uuid, "name": row.name}


@routes.route("DELETE", "/groups/{uuid}", status_code=204)
async def delete_group(uuid: str, state: State) -> Response:
    """Delete a group; its contacts stay."""
    await contactstore.delete_group(state.repo, uuid)
    return Response(status_code=204)


@routes.route("POST", "/groups/{uuid}/contacts")
async def change_members(uuid: str, body: Members, state: State) -> dict[str, Any]:
    """Add contacts to the group and/or take them out (by contact uuid)."""
    # With nothing to change the group is still looked up: an unknown one is a 404.
    wanted = body.add or not body.remove
    added = await contactstore.add_members(state.repo, uuid, body.add) if wanted else 0
    removed = await contactstore.remove_members(state.repo, uuid, body.remove) if body.remove else 0
    return {"added": added, "removed": removed}


# --- JSON: fields ------------------------------------------------------------------------------


class NewField(BaseModel):
    name: str = Field(max_length=200)
    value_type: str = Field(default="text", description="text, number or date")
    key: str | None = Field(default=None, max_length=200, description="Default: from the name")


class FieldChange(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    value_type: str | None = Field(default=None, description="text, number or date")


@routes.route("GET", "/fields")
async def list_fields(state: State) -> dict[str, Any]:
    """The contact fields, each with its type (text, number, date)."""
    return {"results": [contactstore.field_json(f) for f in await contactstore.fields(state.repo)]}


@routes.route("POST", "/fields", status_code=201)
async def create_field(body: NewField, state: State) -> dict[str, Any]:
    row = await contactstore.create_field(state.repo, body.name, body.value_type, body.key)
    return contactstore.field_json(row)


@routes.route("PATCH", "/fields/{key}")
async def change_field(key: str, body: FieldChange, state: State) -> dict[str, Any]:
    """Rename a field or change its type; stored values are not converted."""
    row = await contactstore.update_field(
        state.repo, key, name=body.name, value_type=body.value_type
    )
    return contactstore.field_json(row)


@routes.route("DELETE", "/fields/{key}", status_code=204)
async def delete_field(key: str, state: State) -> Response:
    """Forget a field; the values contacts have stay (flows may still read them)."""
    await contactstore.delete_field(state.repo, key)
    return Response(status_code=204)


# --- JSON: imports -----------------------------------------------------------------------------

_COLUMNS = (
    "JSON: a target for each column in order, or an object column name -> target. Targets: "
    'name, phone, language, groups, status, field:<key> (made as a text field if new), or "". '
    "Default: guessed from the column names"
)
_COUNTRY = "Two-letter country of numbers written without +; default SUTRA_DEFAULT_COUNTRY"


async def _file(upload: UploadFile) -> tuple[bytes, str]:
    return await upload.read(), upload.filename or ""


def _country(given: str | None) -> str | None:
    return (given or "").strip() or get_settings().default_country


@routes.route("POST", "/contacts/imports/preview")
async def preview_import(
    state: State,
    file: Annotated[UploadFile, File(description="The CSV file")],
    columns: Annotated[str | None, Form(description=_COLUMNS)] = None,
    country: Annotated[str | None, Form(description=_COUNTRY)] = None,
) -> dict[str, Any]:
    """What importing the file would do (nothing is stored): the columns and what they map
    to, how many contacts are new, and each refused row by its number (the header is row 1)."""
    data, _ = await _file(file)
    return await contactimport.preview(state.repo, data, columns, _country(country))


@routes.route("POST", "/contacts/imports", status_code=202)
async def start_import(
    request: Request,
    state: State,
    file: Annotated[UploadFile, File(description="The CSV file")],
    columns: Annotated[str | None, Form(description=_COLUMNS)] = None,
    country: Annotated[str | None, Form(description=_COUNTRY)] = None,
    group: Annotated[
        str | None, Form(max_length=200, description="Also add every contact to this group")
    ] = None,
) -> dict[str, Any]:
    """Import the file in the background; ``GET /contacts/imports/{uuid}`` tells how far it is
    and which rows were refused. Contacts are found by phone number: known ones are updated."""
    data, name = await _file(file)
    job = await contactimport.start(
        state.repo,
        data,
        columns,
        _country(country),
        file_name=name,
        group=group,
        created_by=actor(request),
    )
    return contactimport.job_json(job)


@routes.route("GET", "/contacts/imports/{uuid}")
async def import_progress(uuid: str, state: State) -> dict[str, Any]:
    """An import's progress: rows in all, processed, created, updated, refused (with reasons)."""
    return contactimport.job_json(await contactimport.job(state.repo, uuid))


# --- JSON: the pages' contact edits (the REST API's PATCH is in sutra.web.api) -----------------


async def _patch_contact(uuid: str, body: ContactUpdate, state: State) -> dict[str, Any]:
    return contactstore.contact_json(await contactstore.update_contact(state.repo, uuid, body))


routes.pages.add_api_route("/contacts/{uuid}", _patch_contact, methods=["PATCH"])


def export_response(repo: Any, wanted: ContactFilter) -> StreamingResponse:
    stamp = datetime.now().strftime("%Y-%m-%d")
    return StreamingResponse(
        contactstore.export_csv(repo, wanted),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="contacts-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- pages -------------------------------------------------------------------------------------

Filters = Annotated[ContactFilter, Query()]


@pages.get("/contacts")
async def contacts_page(
    user: PageUser,
    state: State,
    wanted: Filters,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    size = contactstore.PAGE_SIZE
    found = await contactstore.search(
        state.repo, wanted, limit=size, offset=(page_number - 1) * size
    )
    groups = await contactstore.groups(state.repo)
    fields = await contactstore.fields(state.repo)
    pages_count = max(1, math.ceil(found.total / size))
    first = (page_number - 1) * size + 1 if found.contacts else 0
    html = render(
        "contacts.html",
        user=user,
        tab="contacts",
        wanted=wanted,
        found=found,
        rows=[_row(c) for c in found.contacts],
        groups=groups,
        fields=fields,
        languages=await contactstore.languages(state.repo),
        statuses=contactstore.STATUS_LABELS,
        seen_labels=contactstore.SEEN_LABELS,
        page=page_number,
        pages=pages_count,
        first=first,
        last=first + len(found.contacts) - 1 if found.contacts else 0,
        previous_url=f"/contacts?{wanted.query_string(page=page_number - 1)}"
        if page_number > 1
        else None,
        next_url=f"/contacts?{wanted.query_string(page=page_number + 1)}"
        if page_number < pages_count
        else None,
        export_url=f"/contacts/export.csv?{wanted.query_string()}",
    )
    return page(html)


def _row(contact: Any) -> dict[str, Any]:
    return {
        "contact": contact,
        "phone": contactstore.shown_phone(contact) or contact.urn,
        "groups": sorted(g.name for g in contact.groups),
        "seen": when(contact.last_message_at),
        "status": contactstore.STATUS_LABELS.get(contact.status, contact.status),
    }


@pages.get("/contacts/export.csv")
async def export_page(user: PageUser, state: State, wanted: Filters) -> StreamingResponse:
    return export_response(state.repo, wanted)


@pages.get("/contacts/groups")
async def groups_page(user: PageUser, state: State) -> HTMLResponse:
    groups = await contactstore.groups(state.repo)
    return page(render("contact_groups.html", user=user, tab="groups", groups=groups))


@pages.get("/contacts/fields")
async def fields_page(user: PageUser, state: State) -> HTMLResponse:
    fields = await contactstore.fields(state.repo)
    html = render(
        "contact_fields.html",
        user=user,
        tab="fields",
        fields=fields,
        types=contactstore.FIELD_TYPES,
    )
    return page(html)


@pages.get("/contacts/import")
async def import_page(user: PageUser, state: State) -> HTMLResponse:
    jobs = [contactimport.job_json(j) for j in await contactimport.recent_jobs(state.repo)]
    html = render(
        "contact_import.html",
        user=user,
        tab="import",
        countries=contactstore.countries(),
        default_country=get_settings().default_country or "",
        groups=await contactstore.groups(state.repo),
        jobs=jobs,
    )
    return page(html)


@pages.get("/contacts/{uuid}")
async def contact_page(uuid: str, user: PageUser, state: State) -> HTMLResponse:
    try:
        contact = await contactstore.contact(state.repo, uuid)
    except ContactError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    fields = await contactstore.fields(state.repo)
    defined = {f.key for f in fields}
    values = contact.fields or {}
    html = render(
        "contact.html",
        user=user,
        tab="contacts",
        contact=contact,
        phone=contactstore.shown_phone(contact),
        fields=fields,
        values=values,
        other_fields={k: v for k, v in values.items() if k not in defined},
        groups=await contactstore.groups(state.repo),
        member_of={g.uuid for g in contact.groups},
        statuses=contactstore.STATUS_LABELS,
        seen=when(contact.last_message_at),
        created=when(contact.created_at),
    )
    return page(html)


def install(app: FastAPI) -> None:
    routes.install(app)
    app.include_router(pages)
