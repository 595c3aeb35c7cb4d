"""A flow's results page (``/flows/{uuid}/results``) and its downloads, for signed-in staff;
``GET /api/v1/flows/{uuid}/results/summary`` gives programs the same counts.

The rows and the files come from :mod:`sutra.web.results`; ``GET /api/v1/flows/{uuid}/results``
(in :mod:`sutra.web.api`) serves the same data with the same filters, and ``GET /api/v1/flows``
each flow's runs, completion rate and last activity, as the flow list shows them.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from sutra.store import models as m
from sutra.web import results
from sutra.web.auth import PageUser, render
from sutra.web.console import Mirror
from sutra.web.pages import page
from sutra.web.results import Layout, ResultFilter
from sutra.web.state import AppState, app_state

State = Annotated[AppState, Depends(app_state)]
Filters = Annotated[ResultFilter, Query()]
pages = APIRouter(include_in_schema=False)
routes = Mirror("results")


async def flow_or_404(state: AppState, uuid: str) -> m.Flow:
    async with state.repo.sessions() as db:
        flow = await db.scalar(
            select(m.Flow).where(m.Flow.uuid == uuid, m.Flow.organization_id == state.repo.org)
        )
    if flow is None:
        raise HTTPException(404, f"no flow {uuid}")
    return flow


def file_name(flow: m.Flow, kind: str) -> str:
    """
    >>> file_name(m.Flow(name="Ask GPT: v2!"), "xlsx")
    'ask_gpt_v2-results.xlsx'
    """
    slug = re.sub(r"[^a-z0-9]+", "_", flow.name.lower()).strip("_") or "flow"
    return f"{slug}-results.{kind}"


async def download_response(
    state: AppState, flow: m.Flow, wanted: ResultFilter, *, kind: str, layout: Layout
) -> Response:
    content, media = await results.download(state.repo, flow.uuid, wanted, kind=kind, layout=layout)
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(flow, kind)}"',
            "Cache-Control": "no-store",
        },
    )


@routes.route("GET", "/flows/{uuid}/results/summary")
async def results_summary(uuid: str, state: State, wanted: Filters) -> dict[str, Any]:
    """Runs, completed runs, the last activity, and per result the count of each category
    (in the date range)."""
    await flow_or_404(state, uuid)
    return await results.summary(state.repo, uuid, wanted)


@pages.get("/flows/{uuid}/results")
async def results_page(
    uuid: str,
    user: PageUser,
    state: State,
    wanted: Filters,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    flow = await flow_or_404(state, uuid)
    keys = await results.result_keys(state.repo, uuid)
    size = results.PAGE_SIZE
    total, rows = await results.runs(
        state.repo, uuid, wanted, limit=size, offset=(page_number - 1) * size
    )
    stats = (await results.flow_stats(state.repo, uuid)).get(uuid, results.FlowStats())
    charts = await results.charts(state.repo, uuid, wanted, keys)
    pages_count = max(1, math.ceil(total / size))
    base = f"/flows/{uuid}/results"
    html = render(
        "results.html",
        user=user,
        flow=flow,
        keys=keys,
        rows=rows,
        total=total,
        stats=stats,
        charts=charts,
        wanted=wanted,
        page=page_number,
        pages=pages_count,
        first=(page_number - 1) * size + 1 if rows else 0,
        previous_url=f"{base}?{wanted.query_string(page=page_number - 1)}"
        if page_number > 1
        else None,
        next_url=f"{base}?{wanted.query_string(page=page_number + 1)}"
        if page_number < pages_count
        else None,
        csv_url=f"{base}.csv?{wanted.query_string()}",
        xlsx_url=f"{base}.xlsx?{wanted.query_string()}",
    )
    return page(html)


@pages.get("/flows/{uuid}/results.csv")
async def results_csv(uuid: str, user: PageUser, state: State, wanted: Filters) -> Response:
    flow = await flow_or_404(state, uuid)
    return await download_response(state, flow, wanted, kind="csv", layout="runs")


@pages.get("/flows/{uuid}/results.xlsx")
async def results_xlsx(uuid: str, user: PageUser, state: State, wanted: Filters) -> Response:
    flow = await flow_or_404(state, uuid)
    return await download_response(state, flow, wanted, kind="xlsx", layout="runs")


def install(app: FastAPI) -> None:
    routes.install(app)
    app.include_router(pages)
