"""The evaluations pages (``/evals``): runs, golden sets, a run's report, two runs compared.

Plain server-rendered HTML with inline SVG charts (nothing fetched from elsewhere, the pages'
CSP allows no other origin) and one small script (``/evals/static/evals.js``) for uploading,
estimating and starting runs, and for watching a run's progress by polling.

:func:`install` adds all of it to the app, the JSON endpoints (:mod:`sutra.evals.api`)
included, and runs the :class:`~sutra.evals.service.EvalService` for the app's lifetime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from sutra.evals import api, report, store
from sutra.evals.scoring import ALIGNED, BUCKETS, DRIFTED
from sutra.evals.service import EvalService
from sutra.web.auth import PageUser
from sutra.web.state import state_of

HERE = Path(__file__).parent
STATIC_PATH = "/evals/static"
TEMPLATES = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(HERE / "templates"),
            # base.html: the same top bar and sign-out as the other pages.
            FileSystemLoader(HERE.parent / "web" / "templates"),
        ]
    ),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(include_in_schema=False)


def _page(name: str, **context: Any) -> HTMLResponse:
    from sutra.web.pages import page

    return page(TEMPLATES.get_template(name).render(**context))


def zone(score: float | None) -> str:
    """The colour class of a score, by Glific's reading guide."""
    if score is None:
        return "none"
    return "aligned" if score > ALIGNED else "drifted" if score < DRIFTED else "partial"


def histogram(buckets: list[int], *, width: int = 520, height: int = 180) -> dict[str, Any]:
    """Bars for the ten score buckets, with their geometry for the SVG."""
    top = max(buckets) if buckets and max(buckets) > 0 else 1
    plot_h, left, bottom = height - 40, 30, height - 24
    bar_w = (width - left - 10) / BUCKETS
    bars = []
    for index, count in enumerate(buckets):
        h = plot_h * count / top
        low = index / BUCKETS
        bars.append(
            {
                "x": round(left + index * bar_w + 2, 1),
                "y": round(bottom - h, 1),
                "w": round(bar_w - 4, 1),
                "h": round(h, 1),
                "count": count,
                "label": f"{low:.1f}",
                "zone": zone(low + 0.05),
                "title": f"{count} between {low:.1f} and {low + 0.1:.1f}",
            }
        )
    return {
        "width": width,
        "height": height,
        "bottom": bottom,
        "left": left,
        "top": top,
        "bars": bars,
        "end_x": round(left + BUCKETS * bar_w, 1),
        # Where Glific's 0.3 and 0.7 marks fall on the axis.
        "drifted_x": round(left + DRIFTED * BUCKETS * bar_w, 1),
        "aligned_x": round(left + ALIGNED * BUCKETS * bar_w, 1),
    }


def category_bars(categories: dict[str, dict[str, Any]], *, width: int = 520) -> dict[str, Any]:
    label_w, row_h = 150, 26
    span = width - label_w - 60
    rows = []
    for index, (name, found) in enumerate(categories.items()):
        mean = found.get("mean")
        rows.append(
            {
                "name": name,
                "y": index * row_h + 4,
                "w": round(span * (mean or 0), 1),
                "mean": mean,
                "count": found.get("count", 0),
                "zone": zone(mean),
            }
        )
    return {"width": width, "height": len(rows) * row_h + 8, "label_w": label_w, "rows": rows}


def _sessions(request: Request) -> store.Sessions:
    return state_of(request).repo.sessions


def _org(request: Request) -> int:
    return state_of(request).repo.org


@router.get("/evals")
async def evals_page(request: Request, user: PageUser) -> HTMLResponse:
    sessions, org = _sessions(request), _org(request)
    golden = await store.golden_sets(sessions, org)
    labels = {g.id: f"{g.name} v{g.version}" for g in golden}
    runs = [
        report.run_json(r, labels.get(r.golden_set_id)) for r in await store.runs(sessions, org)
    ]
    return _page(
        "evals.html",
        user=user,
        golden_sets=[store.golden_json(g) for g in golden],
        runs=runs,
        zone=zone,
    )


@router.get("/evals/runs/{run_id}")
async def run_page(run_id: int, request: Request, user: PageUser) -> HTMLResponse:
    sessions, org = _sessions(request), _org(request)
    data = await store.run_data(sessions, org, run_id)
    if data is None:
        raise HTTPException(404, f"no run {run_id}")
    label = f"{data.golden.name} v{data.golden.version}" if data.golden else None
    run = report.run_json(data.run, label)
    summary = data.run.summary or report.summarize(data.rows, data.results)
    others = [r for r in await store.runs(sessions, org) if r.id != run_id]
    return _page(
        "run.html",
        user=user,
        run=run,
        summary=summary,
        questions=report.questions(data.rows, data.results),
        chart=histogram(summary["questions"]["buckets"]),
        categories=category_bars(summary["categories"]),
        others=[report.run_json(r) for r in others],
        zone=zone,
    )


@router.get("/evals/compare")
async def compare_page(
    request: Request,
    user: PageUser,
    a: Annotated[int, Query(ge=1, le=2**63 - 1)],
    b: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> HTMLResponse:
    sessions, org = _sessions(request), _org(request)
    first, second = await store.run_data(sessions, org, a), await store.run_data(sessions, org, b)
    if first is None or second is None:
        raise HTTPException(404, f"no run {a if first is None else b}")
    found = report.compare(first, second)
    return _page("compare.html", user=user, cmp=found, zone=zone)


def _installed(app: FastAPI) -> bool:
    return bool(getattr(app.state, "sutra_evals_installed", False))


def install(app: FastAPI) -> None:
    """Add the pages, both sets of endpoints and the static files, and run the evaluation
    service (resuming unfinished runs) while the app runs."""
    if _installed(app):
        return
    app.state.sutra_evals_installed = True
    app.include_router(api.api_router())
    app.include_router(api.page_api_router())
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="evals-static")
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            service = EvalService(app_.state.sutra.repo.sessions)
            app_.state.sutra_evals = service
            await service.start()
            try:
                yield state
            finally:
                await service.stop()
                app_.state.sutra_evals = None

    app.router.lifespan_context = lifespan
