"""The flow list (``/flows``) and the editor page (``/flows/{uuid}/edit``), for signed-in staff.

The list's buttons call the JSON routes below with the CSRF header (``sutra.js``); exports and
pages are plain GETs. Imports take the same files as ``sutra import``: a bare definition, a
Glific export or a RapidPro export; exports are Glific files (flow and sub-flows, keywords,
contact fields, groups), so what is drawn here can be imported into Glific or another Sutra.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from sutra import jsonparse
from sutra.flows import FlowFileError, parse_flow_file
from sutra.web import editor, flowstore, results
from sutra.web.auth import ApiUser, PageUser, render
from sutra.web.state import AppState, app_state

router = APIRouter(include_in_schema=False)
State = Annotated[AppState, Depends(app_state)]

# Pages allow nothing from elsewhere. The editor's bundle needs eval (its expression parser)
# and inline styles (its components); images may be the flow's attachments, from anywhere.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https: http:; media-src 'self' https: http:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def page(html: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def _when(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else ""


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/flows", status_code=303)


@router.get("/flows")
async def flows_page(user: PageUser, state: State) -> HTMLResponse:
    stats = await results.flow_stats(state.repo)

    def row(summary: flowstore.FlowSummary) -> dict[str, Any]:
        issues = [i for i in summary.issues if isinstance(i, dict)]
        errors = sum(1 for i in issues if i.get("severity") == "error")
        return {
            "flow": summary.flow,
            "latest": summary.latest,
            "running": summary.running,
            "errors": errors,
            "warnings": len(issues) - errors,
            "problem_text": "\n".join(str(i.get("description", "")) for i in issues[:10]),
            "problems": [
                {"node": i.get("node"), "description": str(i.get("description", ""))}
                for i in issues[:50]
            ],
            "updated": _when(summary.latest.created_at if summary.latest else None),
            "stats": stats.get(summary.flow.uuid, results.FlowStats()),
            "last_activity": _when(stats[summary.flow.uuid].last_activity)
            if summary.flow.uuid in stats
            else "",
        }

    active = [row(s) for s in await flowstore.list_flows(state.repo)]
    archived = [row(s) for s in await flowstore.list_flows(state.repo, archived=True)]
    return page(render("flows.html", user=user, flows=active, archived=archived))


@router.get("/flows/help")
async def help_page(user: PageUser) -> HTMLResponse:
    return page(render("help.html", user=user))


class NewFlow(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    keywords: str | list[str] = ""


class FlowChange(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    keywords: str | list[str] | None = None
    archived: bool | None = None


def _flow_json(flow: Any) -> dict[str, Any]:
    return {
        "uuid": flow.uuid,
        "name": flow.name,
        "keywords": list(flow.keywords or []),
        "archived": flow.archived,
        "edit_url": f"/flows/{flow.uuid}/edit",
    }


@router.post("/flows", status_code=201)
async def create_flow(body: NewFlow, user: ApiUser, state: State) -> dict[str, Any]:
    try:
        flow = await flowstore.create_flow(
            state.repo, body.name, flowstore.parse_keywords(body.keywords), user=user.email
        )
    except flowstore.FlowError as exc:
        raise HTTPException(409, str(exc)) from None
    state.runner.invalidate()
    return _flow_json(flow)


@router.patch("/flows/{uuid}")
async def change_flow(uuid: str, body: FlowChange, user: ApiUser, state: State) -> dict[str, Any]:
    """Rename, change keywords, archive (``archived: true``) or restore a flow."""
    try:
        flow = await flowstore.update_flow(
            state.repo,
            uuid,
            name=body.name,
            keywords=None if body.keywords is None else flowstore.parse_keywords(body.keywords),
            archived=body.archived,
            user=user.email,
        )
    except LookupError:
        raise HTTPException(404, f"no flow {uuid}") from None
    except flowstore.FlowError as exc:
        raise HTTPException(409, str(exc)) from None
    state.runner.invalidate()
    return _flow_json(flow)


@router.post("/flows/import", status_code=201, response_model=None)
async def import_file(request: Request, user: ApiUser, state: State) -> Any:
    """Import a flow file sent as the body (any content type: browsers differ)."""
    try:
        data = jsonparse.loads(await request.body())
    except jsonparse.JSONTooDeep as exc:
        problems = [{"path": exc.path, "message": exc.problem}]
        return JSONResponse({"detail": str(exc), "errors": problems}, status_code=422)
    except ValueError as exc:
        raise HTTPException(422, f"the file is not JSON: {exc}") from None
    try:
        flow_file = parse_flow_file(data, known_flows=await flowstore.flow_uuids(state.repo))
    except FlowFileError as exc:
        problems = [{"path": i.path, "message": i.message} for i in exc.issues]
        return JSONResponse({"detail": str(exc), "errors": problems}, status_code=422)
    imported = await state.repo.import_flow_file(flow_file, created_by=user.email)
    state.runner.invalidate()
    return {
        "flows": [
            {"uuid": f.uuid, "name": f.name, "revision": f.revision, "keywords": f.keywords}
            for f in imported
        ],
        "warnings": [str(w) for w in flow_file.warnings],
    }


def _file_name(name: str) -> str:
    """
    >>> _file_name("Ask GPT: v2!")
    'ask_gpt_v2.json'
    """
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return f"{slug or 'flow'}.json"


@router.get("/flows/{uuid}/export")
async def export_flow(uuid: str, user: PageUser, state: State) -> Response:
    flow = await flowstore.get_flow(state.repo, uuid)
    if flow is None:
        raise HTTPException(404, f"no flow {uuid}")
    data = await flowstore.export_flows(state.repo, uuid)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_file_name(flow.name)}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/flows/{uuid}/edit")
async def edit_page(uuid: str, request: Request, user: PageUser, state: State) -> HTMLResponse:
    flow = await flowstore.get_flow(state.repo, uuid)
    if flow is None or flow.archived:
        raise HTTPException(404, f"no flow {uuid}")
    build = editor.editor_build(request)
    if build is None:
        html = render(
            "editor_missing.html",
            user=user,
            package=editor.PACKAGE,
            version=editor.PINNED_VERSION,
            problem=getattr(request.app.state, "flow_editor_problem", None) or "no build",
            flow_uuid=uuid,
        )
        return page(html, status_code=503)
    # In a <script type="application/json">: "<" escaped so that no value can close the tag.
    config = json.dumps(editor.editor_config(uuid)).replace("<", "\\u003c")
    return page(render("editor.html", user=user, flow=flow, build=build, config_json=config))
