"""The evaluation endpoints, twice: ``/api/v1/evals/…`` for programs (bearer token, as the rest
of the REST API) and ``/evals/api/…`` for the page (a signed-in session, CSRF-checked).

* ``GET/POST golden-sets`` list, upload (multipart ``file`` + ``name``, or the file as the
  body with ``?name=``); ``GET golden-sets/{id}`` with its rows. A bad row is a 422 whose
  ``detail`` names the row and column, and ``errors`` lists them all.
* ``GET targets``: the kinds of target, and the flows' ``parse_via_chat_gpt`` nodes.
* ``POST estimate`` and ``POST runs`` take ``{golden_set_id, target, options, name}``; a run
  starts at once and answers 201 with its estimate.
* ``GET runs``, ``GET runs/{id}`` (progress, summary), ``GET runs/{id}/results`` (per question;
  ``?format=csv`` for the CSV), ``POST runs/{id}/cancel``, ``GET compare?a=&b=``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sutra.evals import report, runner, store
from sutra.evals.golden import GoldenFileError, parse_golden_file
from sutra.evals.scoring import DEFAULT_CHANGE
from sutra.evals.service import EvalService
from sutra.evals.settings import eval_settings
from sutra.evals.targets import SpecError, kinds
from sutra.store import models as m
from sutra.web.spreadsheet import csv_text
from sutra.web.state import state_of

# The databases' integers are 64-bit: a larger id is a 422, not an overflow.
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class RunIn(BaseModel):
    golden_set_id: int = Field(ge=1, le=2**63 - 1)
    target: dict[str, Any]
    options: runner.RunOptions = Field(default_factory=runner.RunOptions)
    name: str | None = Field(default=None, max_length=200)


def service_of(request: Request) -> EvalService:
    found: EvalService | None = getattr(request.app.state, "sutra_evals", None)
    if found is None:
        raise HTTPException(503, "evaluations are not running in this server")
    return found


def _sessions(request: Request) -> store.Sessions:
    return state_of(request).repo.sessions


def _org(request: Request) -> int:
    return state_of(request).repo.org


async def upload(request: Request, created_by: str, name: str | None) -> Any:
    filename = request.query_params.get("filename") or ""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise HTTPException(422, "the form needs a file field")
        data = await file.read()
        filename = file.filename or filename
        given = form.get("name")
        name = name or (given if isinstance(given, str) else None)
    else:
        data = await request.body()
    name = (name or "").strip() or filename.rsplit(".", 1)[0].strip()
    if not name:
        raise HTTPException(422, "name the golden set (name=…)")
    try:
        rows = parse_golden_file(data, filename, max_rows=eval_settings().max_rows)
    except GoldenFileError as exc:
        problems = [p.as_json() for p in exc.problems]
        return JSONResponse({"detail": str(exc), "errors": problems}, status_code=422)
    golden = await store.add_golden_set(
        _sessions(request),
        _org(request),
        name[:200],
        rows,
        filename=filename or None,
        created_by=created_by,
    )
    return store.golden_json(golden)


async def gpt_nodes(request: Request) -> list[dict[str, Any]]:
    """Each active flow's ``parse_via_chat_gpt`` nodes, for choosing one as a target."""
    found = []
    async with _sessions(request)() as db:
        flows = await db.scalars(
            select(m.Flow)
            .where(m.Flow.organization_id == _org(request), m.Flow.archived.is_(False))
            .options(selectinload(m.Flow.current_revision))
            .order_by(m.Flow.name)
        )
        for flow in flows:
            definition = flow.current_revision.definition if flow.current_revision else {}
            nodes = []
            for node in definition.get("nodes") or []:
                for action in node.get("actions") or []:
                    if action.get("type") == "call_webhook" and action.get("url") == (
                        "parse_via_chat_gpt"
                    ):
                        try:
                            body = json.loads(action.get("body") or "{}")
                        except ValueError:
                            body = {}
                        body = body if isinstance(body, dict) else {}
                        nodes.append(
                            {
                                "node_uuid": node.get("uuid"),
                                "result_name": action.get("result_name"),
                                "model": body.get("model") or body.get("gpt_model"),
                                "prompt": str(body.get("prompt") or "")[:200],
                            }
                        )
            found.append({"uuid": flow.uuid, "name": flow.name, "gpt_nodes": nodes})
    return found


def _spec_error(exc: Exception) -> HTTPException:
    return HTTPException(422, str(exc))


def _actor(request: Request) -> str:
    actor: str = request.state.eval_actor
    return actor


def add_routes(router: APIRouter) -> APIRouter:

    @router.get("/golden-sets")
    async def list_golden_sets(request: Request) -> dict[str, Any]:
        sets = await store.golden_sets(_sessions(request), _org(request))
        return {"golden_sets": [store.golden_json(g) for g in sets]}

    @router.post("/golden-sets", status_code=201, response_model=None)
    async def upload_golden_set(
        request: Request, name: Annotated[str | None, Query(max_length=200)] = None
    ) -> Any:
        return await upload(request, _actor(request), name)

    @router.get("/golden-sets/{golden_set_id}")
    async def get_golden_set(
        golden_set_id: Id,
        request: Request,
    ) -> dict[str, Any]:
        golden = await store.golden_set(_sessions(request), _org(request), golden_set_id)
        if golden is None:
            raise HTTPException(404, f"no golden set {golden_set_id}")
        rows = await store.golden_rows(_sessions(request), golden.id)
        return {
            **store.golden_json(golden),
            "questions": [
                {
                    "position": r.position,
                    "question": r.question,
                    "expected": r.expected,
                    "category": r.category,
                    "tags": r.tags,
                }
                for r in rows
            ],
        }

    @router.get("/targets")
    async def targets(request: Request) -> dict[str, Any]:
        return {
            "kinds": [{"kind": k.name, "description": k.description} for k in kinds().values()],
            "flows": await gpt_nodes(request),
        }

    async def _create(request: Request, body: RunIn, actor: str, *, dry_run: bool) -> Any:
        try:
            return await runner.create_run(
                _sessions(request),
                _org(request),
                body.golden_set_id,
                body.target,
                body.options,
                name=body.name,
                created_by=actor,
                dry_run=dry_run,
            )
        except (SpecError, ValidationError) as exc:
            raise _spec_error(exc) from None

    @router.post("/estimate")
    async def estimate(body: RunIn, request: Request) -> dict[str, Any]:
        run = await _create(request, body, _actor(request), dry_run=True)
        return {"target_label": run.target_label, "config": run.config, **(run.estimate or {})}

    @router.post("/runs", status_code=201)
    async def start_run(body: RunIn, request: Request) -> dict[str, Any]:
        service = service_of(request)
        run = await _create(request, body, _actor(request), dry_run=False)
        await service.launch(run.id)
        return report.run_json(run)

    @router.get("/runs")
    async def list_runs(
        request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        found = await store.runs(_sessions(request), _org(request), limit)
        labels = {
            g.id: f"{g.name} v{g.version}"
            for g in await store.golden_sets(_sessions(request), _org(request))
        }
        return {"runs": [report.run_json(r, labels.get(r.golden_set_id)) for r in found]}

    async def _data(request: Request, run_id: int) -> store.RunData:
        data = await store.run_data(_sessions(request), _org(request), run_id)
        if data is None:
            raise HTTPException(404, f"no run {run_id}")
        return data

    @router.get("/runs/{run_id}")
    async def get_run(run_id: Id, request: Request) -> dict[str, Any]:
        run = await store.get_run(_sessions(request), _org(request), run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id}")
        golden = await store.golden_set(_sessions(request), _org(request), run.golden_set_id)
        return report.run_json(run, f"{golden.name} v{golden.version}" if golden else None)

    @router.get("/runs/{run_id}/results", response_model=None)
    async def run_results(
        run_id: Id,
        request: Request,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Any:
        data = await _data(request, run_id)
        if format == "csv":
            return Response(
                csv_text(report.CSV_COLUMNS, report.csv_rows(data)),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="eval-run-{run_id}.csv"',
                    "Cache-Control": "no-store",
                },
            )
        return {
            "run": report.run_json(data.run),
            "questions": report.questions(data.rows, data.results),
        }

    @router.post("/runs/{run_id}/cancel")
    async def cancel_run(run_id: Id, request: Request) -> dict[str, Any]:
        await _data(request, run_id)
        await service_of(request).cancel(run_id)
        run = await store.get_run(_sessions(request), _org(request), run_id)
        assert run is not None
        return report.run_json(run)

    @router.get("/compare")
    async def compare(
        request: Request,
        a: Annotated[int, Query(ge=1, le=2**63 - 1)],
        b: Annotated[int, Query(ge=1, le=2**63 - 1)],
        change: Annotated[float, Query(ge=0, le=1)] = DEFAULT_CHANGE,
    ) -> dict[str, Any]:
        return report.compare(await _data(request, a), await _data(request, b), change=change)

    return router


async def _api_actor(request: Request) -> None:
    request.state.eval_actor = "api"


async def _page_actor(request: Request) -> None:
    from sutra.web.auth import api_user

    request.state.eval_actor = (await api_user(request)).email


def api_router() -> APIRouter:
    from sutra.web.api import require_token

    router = APIRouter(
        prefix="/api/v1/evals",
        dependencies=[Depends(require_token), Depends(_api_actor)],
        tags=["evaluations"],
    )
    return add_routes(router)


def page_api_router() -> APIRouter:
    router = APIRouter(
        prefix="/evals/api", dependencies=[Depends(_page_actor)], include_in_schema=False
    )
    return add_routes(router)
