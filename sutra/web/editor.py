"""The Glific flow editor: its prebuilt bundle, served from the site root, and its backend.

The npm package ``@glific/flow-editor`` (pinned in package.json, installed by ``make setup``)
ships a finished build. Its scripts load chunks, fonts and icons from absolute paths under
``/static/``, so its ``build/static`` is served at ``/static``; Sutra's own page scripts live
under ``/static/sutra/``. The hashed file names come from ``build/asset-manifest.json``, read
once at start-up. Without the build the server still runs and the editor page says what to do.

The editor calls the backend under ``/flow-editor/`` (every request needs a signed-in user;
saves carry the CSRF header). It asks for the same resource with and without a trailing slash,
sometimes with ``//``: one route takes every path and normalises it before dispatching.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from starlette.types import Scope

from sutra import jsonparse
from sutra.config import ServerSettings
from sutra.engine.languages import _LANGUAGES
from sutra.expressions import snakify
from sutra.store import models as m
from sutra.store.users import list_users
from sutra.web import completion, flowstore
from sutra.web.auth import ApiUser, SignedIn
from sutra.web.state import AppState, app_state

log = logging.getLogger(__name__)

PACKAGE = "@glific/flow-editor"
# The version package.json pins; the page says so when another one is installed.
PINNED_VERSION = "1.43.0-10"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUILD = REPO_ROOT / "node_modules" / "@glific" / "flow-editor" / "build"
OWN_STATIC = Path(__file__).with_name("static") / "sutra"
BASE = "/flow-editor"

State = Annotated[AppState, Depends(app_state)]


# --- the build ---------------------------------------------------------------------------------


class EditorBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class EditorBuild:
    root: Path
    version: str
    # Absolute URLs under /static, in the order the page must load them.
    styles: tuple[str, ...]
    temba_components: str | None
    scripts: tuple[str, ...]
    # The <style> block of the package's index.html: the CSS custom properties the components
    # read. Without it dropdowns and autocomplete lists are transparent and print over dialogs.
    inline_style: str


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def locate_build(configured: Path | None = None) -> Path:
    """The build folder: ``SUTRA_EDITOR_BUILD``, else node_modules in the source tree or cwd."""
    if configured is not None:
        return configured
    for candidate in (DEFAULT_BUILD, Path.cwd() / "node_modules/@glific/flow-editor/build"):
        if candidate.is_dir():
            return candidate
    return DEFAULT_BUILD


def load_build(root: Path) -> EditorBuild:
    manifest_path = root / "asset-manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entrypoints = [str(e) for e in manifest["entrypoints"]]
    except FileNotFoundError:
        raise EditorBuildError(f"{manifest_path} is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EditorBuildError(f"{manifest_path} cannot be read: {exc}") from None
    styles = tuple(f"/{e}" for e in entrypoints if e.endswith(".css"))
    # The manifest lists runtime, vendor chunk, main in load order already.
    scripts = tuple(f"/{e}" for e in entrypoints if e.endswith(".js"))
    if not scripts or not all(s.startswith("/static/") for s in scripts + styles):
        raise EditorBuildError(f"{manifest_path}: unexpected entry points {entrypoints}")
    temba = root / "static" / "temba-components" / "temba-components.js"
    try:
        index = (root / "index.html").read_text(encoding="utf-8")
    except OSError as exc:
        raise EditorBuildError(f"{root / 'index.html'} cannot be read: {exc}") from None
    style = _STYLE.search(index)
    try:
        package = json.loads((root.parent / "package.json").read_text(encoding="utf-8"))
        version = str(package.get("version") or "unknown")
    except (OSError, ValueError):
        version = "unknown"
    return EditorBuild(
        root=root,
        version=version,
        styles=styles,
        temba_components="/static/temba-components/temba-components.js"
        if temba.is_file()
        else None,
        scripts=scripts,
        # Closing tags cannot occur inside: the page puts it back between <style> tags.
        inline_style=style.group(1).replace("</", "<\\/") if style else "",
    )


class EditorStatic(StaticFiles):
    """The build's files, with the charset spelled out and hashed names cached for good.

    temba-components throws a SyntaxError when its script is not read as UTF-8, and the
    system's MIME table may name JavaScript ``application/javascript`` (no charset added).
    """

    _TYPES = {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml; charset=utf-8",
        ".json": "application/json; charset=utf-8",
        ".map": "application/json; charset=utf-8",
    }
    _HASHED = re.compile(r"\.[0-9a-f]{8}\.")

    def file_response(
        self,
        full_path: Any,
        stat_result: Any,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        path = Path(str(full_path))
        media_type = self._TYPES.get(path.suffix)
        if media_type:
            response.headers["content-type"] = media_type
        if self._HASHED.search(path.name):
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def install(app: FastAPI, settings: ServerSettings) -> None:
    """Serve the bundle (when installed) and Sutra's page assets; add the backend."""
    root = locate_build(settings.sutra_editor_build)
    build: EditorBuild | None = None
    problem: str | None = None
    try:
        build = load_build(root)
        if build.version != PINNED_VERSION:
            log.warning(
                "flow editor %s is installed, Sutra is tested with %s (run make setup)",
                build.version,
                PINNED_VERSION,
            )
    except EditorBuildError as exc:
        problem = str(exc)
        log.warning("the flow editor is not available: %s; run `make setup`", problem)
    app.state.flow_editor = build
    app.state.flow_editor_problem = problem
    # Mounted before /static so that it wins for /static/sutra/...
    app.mount("/static/sutra", StaticFiles(directory=OWN_STATIC), name="sutra-static")
    if build is not None:
        app.mount("/static", EditorStatic(directory=build.root / "static"), name="editor-static")
        favicon = build.root / "favicon.ico"

        @app.get("/favicon.ico", include_in_schema=False)
        async def icon() -> FileResponse:
            return FileResponse(favicon, media_type="image/x-icon")

    app.include_router(router)


def editor_build(request: Request) -> EditorBuild | None:
    found: EditorBuild | None = getattr(request.app.state, "flow_editor", None)
    return found


def editor_config(flow_uuid: str) -> dict[str, Any]:
    """The object the page hands to ``showFlowEditor``.

    Every endpoint key must be there as a string, or the editor crashes while loading; all are
    absolute paths (relative ones resolve against the site root, not the page).
    """
    names = {
        "channels": "channels",
        "classifiers": "classifiers",
        "languages": "languages",
        "flows": "flows",
        "fields": "fields?scope=contact",
        "waGroupFields": "fields?scope=wa_group",
        "globals": "globals",
        "groups": "groups",
        "revisions": f"revisions/{flow_uuid}",
        "labels": "labels",
        "optins": "optins",
        "recipients": "recipients",
        "contacts": "recipients",
        "resthooks": "resthooks",
        "templates": "templates",
        "validateMedia": "validate-media",
        "interactives": "interactive-templates",
        "sheets": "sheets",
        "ticketers": "ticketers",
        "users": "users",
        "topics": "topics",
        "activity": "activity",
        "completion": "completion",
        "functions": "functions",
        "attachments": "flow-attachment",
        "recents": "recents/",
        "environment": "environment",
    }
    endpoints: dict[str, Any] = {key: f"{BASE}/{path}" for key, path in names.items()}
    endpoints.update(
        {
            "editor": "/flows",
            "contact": "/simulator?contact=",
            # Sutra's own simulator page replaces the editor's built-in one.
            "simulateStart": False,
            "simulateResume": False,
        }
    )
    return {
        "flow": flow_uuid,
        "flowType": "messaging",
        "localStorage": True,
        "mutable": True,
        "attachmentsEnabled": True,
        # "whatsapp" turns on the WhatsApp parts (templates, interactive messages) Glific has.
        "filters": ["whatsapp"],
        # What Glific leaves out, for the same reason: no such channel feature on WhatsApp.
        "excludeTypes": [
            "add_contact_urn",
            "send_email",
            "call_resthook",
            "transfer_airtime",
            "split_by_scheme",
        ],
        "excludeOperators": [],
        "help": {
            "legacy_extra": "/flows/help",
            "missing_dependency": "/flows/help",
            "invalid_regex": "/flows/help",
        },
        "endpoints": endpoints,
    }


# --- the backend -------------------------------------------------------------------------------

router = APIRouter(prefix=BASE, include_in_schema=False)
Handler = Callable[["Call"], Awaitable[Any]]
_GET: dict[str, Handler] = {}
_POST: dict[str, Handler] = {}


@dataclass
class Call:
    request: Request
    state: AppState
    user: SignedIn
    # The path after the endpoint's name, without empty parts: "revisions/<flow>/<id>/" and
    # "revisions//<flow>/<id>" both give [flow, id].
    args: list[str]

    @property
    def query(self) -> Any:
        return self.request.query_params

    async def json(self) -> Any:
        """The body as JSON, whatever content type the client claimed."""
        body = await self.request.body()
        if not body:
            return {}
        try:
            return jsonparse.loads(body)
        except jsonparse.JSONTooDeep as exc:
            raise HTTPException(400, f"the body: {exc}") from None
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None


def endpoint(name: str, *, method: str = "GET") -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        (_GET if method == "GET" else _POST)[name] = handler
        return handler

    return add


def results(items: list[Any]) -> dict[str, Any]:
    return {"results": items, "next": None}


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def dispatch(path: str, request: Request, state: State, user: ApiUser) -> Response:
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise HTTPException(404, "no such endpoint")
    table = _GET if request.method == "GET" else _POST if request.method == "POST" else {}
    handler = table.get(parts[0])
    if handler is None:
        if parts[0] in _GET or parts[0] in _POST:
            raise HTTPException(405, f"{request.method} is not allowed on {parts[0]}")
        raise HTTPException(404, f"no endpoint {parts[0]!r}")
    answer = await handler(Call(request, state, user, parts[1:]))
    if isinstance(answer, Response):
        return answer
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


async def _nothing(call: Call) -> Any:
    return results([])


# Endpoints for things Sutra does not have (yet): the editor asks, gets an empty list.
for _name in (
    "channels",
    "classifiers",
    "ticketers",
    "resthooks",
    "optins",
    "templates",
    "interactive-templates",
    "sheets",
    "topics",
    "recipients",
    "contacts",
):
    _GET[_name] = _nothing


@endpoint("languages")
async def languages(call: Call) -> Any:
    """English (the flows' default), the organisation's languages and those contacts speak.

    Each language offered adds a translation tab to the editor, so only these are listed, not
    every language Sutra recognises. An organisation lists its own in ``settings.languages``.
    """
    repo = call.state.repo
    async with repo.sessions() as db:
        org = await db.get(m.Organization, repo.org)
        spoken = await db.scalars(
            select(m.Contact.language)
            .where(m.Contact.organization_id == repo.org, m.Contact.language.is_not(None))
            .distinct()
            .limit(50)
        )
        wanted = [*list((org.settings or {}).get("languages") or [] if org else []), *spoken]
    by_code = {code: name for name, codes in _LANGUAGES.items() for code in (name, *codes)}
    items = {"eng": {"iso": "eng", "name": "English", "default": True}}
    for code in wanted:
        name = by_code.get(str(code).strip().lower())
        if name is None:
            continue  # a code Sutra cannot name: it would show as a blank tab
        iso3 = _LANGUAGES[name][1]
        items.setdefault(iso3, {"iso": iso3, "name": name.title(), "default": False})
    return results(list(items.values()))


@endpoint("environment")
async def environment(call: Call) -> Any:
    async with call.state.repo.sessions() as db:
        org = await db.get(m.Organization, call.state.repo.org)
    return {
        "date_format": "DD-MM-YYYY",
        "time_format": "tt:mm",
        "timezone": org.timezone if org else "UTC",
        "languages": ["eng"],
    }


def _field_json(row: m.ContactField) -> dict[str, Any]:
    return {
        "key": row.key,
        "name": row.name,
        "label": row.name,
        "value_type": row.value_type,
        "scope": "contact",
    }


@endpoint("fields")
async def fields(call: Call) -> Any:
    if call.query.get("scope", "contact") != "contact":
        return results([])  # WhatsApp group fields: Sutra has no WhatsApp groups
    async with call.state.repo.sessions() as db:
        rows = await db.scalars(
            select(m.ContactField)
            .where(m.ContactField.organization_id == call.state.repo.org)
            .order_by(m.ContactField.key)
        )
        return results([_field_json(row) for row in rows])


@endpoint("fields", method="POST")
async def create_field(call: Call) -> Any:
    """A field typed into the editor: ``{label}`` (or ``name``/``key``), optional value_type."""
    body = await call.json()
    if not isinstance(body, dict):
        raise HTTPException(400, "expected a JSON object")
    label = str(body.get("label") or body.get("name") or body.get("key") or "").strip()
    key = snakify(str(body.get("key") or label))
    if not key:
        raise HTTPException(400, "a field needs a name with letters or digits")
    value_type = str(body.get("value_type") or "text")
    repo = call.state.repo
    async with repo.sessions.begin() as db:
        row = await db.scalar(
            select(m.ContactField).where(
                m.ContactField.organization_id == repo.org, m.ContactField.key == key
            )
        )
        if row is None:
            row = m.ContactField(
                organization_id=repo.org, key=key, name=label or key, value_type=value_type
            )
            db.add(row)
            await db.flush()
        return _field_json(row)


@endpoint("groups")
async def groups(call: Call) -> Any:
    async with call.state.repo.sessions() as db:
        rows = await db.scalars(
            select(m.Group)
            .where(m.Group.organization_id == call.state.repo.org)
            .order_by(m.Group.name)
        )
        return results([{"uuid": g.uuid, "name": g.name, "type": "group"} for g in rows])


@endpoint("groups", method="POST")
async def create_group(call: Call) -> Any:
    body = await call.json()
    name = str(body.get("name") or "").strip() if isinstance(body, dict) else ""
    if not name:
        raise HTTPException(400, "a group needs a name")
    repo = call.state.repo
    async with repo.sessions.begin() as db:
        row = await db.scalar(
            select(m.Group).where(m.Group.organization_id == repo.org, m.Group.name == name)
        )
        if row is None:
            row = m.Group(organization_id=repo.org, name=name)
            db.add(row)
            await db.flush()
        return {"uuid": row.uuid, "name": row.name, "type": "group"}


async def _labels_in_flows(call: Call) -> dict[str, dict[str, Any]]:
    """Message labels as the flows use them: Sutra keeps labels on messages, not in a table."""
    found: dict[str, dict[str, Any]] = {}
    async with call.state.repo.sessions() as db:
        rows = await db.scalars(
            select(m.FlowRevision.definition)
            .join(m.Flow, m.Flow.current_revision_id == m.FlowRevision.id)
            .where(m.Flow.organization_id == call.state.repo.org)
        )
        for definition in rows:
            for action in flowstore.walk_actions(definition):
                if action.get("type") != "add_input_labels":
                    continue
                for label in action.get("labels") or []:
                    if isinstance(label, dict) and label.get("name"):
                        found.setdefault(
                            str(label["name"]),
                            {"uuid": str(label.get("uuid") or m.new_uuid()), "name": label["name"]},
                        )
    return found


@endpoint("labels")
async def labels(call: Call) -> Any:
    found = await _labels_in_flows(call)
    return results([found[name] for name in sorted(found)])


@endpoint("labels", method="POST")
async def create_label(call: Call) -> Any:
    body = await call.json()
    name = str(body.get("name") or "").strip() if isinstance(body, dict) else ""
    if not name:
        raise HTTPException(400, "a label needs a name")
    existing = (await _labels_in_flows(call)).get(name)
    # Nothing to store: the label lives in the flow that uses it, and on labelled messages.
    return existing or {"uuid": m.new_uuid(), "name": name, "count": 0}


@endpoint("globals")
async def globals_(call: Call) -> Any:
    async with call.state.repo.sessions() as db:
        rows = await db.scalars(
            select(m.Global)
            .where(m.Global.organization_id == call.state.repo.org)
            .order_by(m.Global.key)
        )
        return results([{"key": g.key, "name": g.name, "value": g.value} for g in rows])


@endpoint("users")
async def users_(call: Call) -> Any:
    rows = await list_users(call.state.repo.sessions)
    return results(
        [
            {"email": u.email, "name": u.name or u.email, "first_name": u.name or ""}
            for u in rows
            if u.is_active
        ]
    )


@endpoint("flows")
async def flows(call: Call) -> Any:
    """Flows another flow can start (enter_flow)."""
    summaries = await flowstore.list_flows(call.state.repo)
    return results(
        [
            {
                "uuid": s.flow.uuid,
                "name": s.flow.name,
                "type": "message",
                "archived": False,
                "labels": [],
                "parent_refs": [],
            }
            for s in summaries
        ]
    )


@endpoint("completion")
async def completion_(call: Call) -> Any:
    return completion.completion()


@endpoint("functions")
async def functions(call: Call) -> Any:
    return completion.FUNCTIONS


@endpoint("validate-media")
async def validate_media(call: Call) -> Any:
    """Whether an attachment URL can be sent: WhatsApp fetches it, so it must be http(s).

    Glific downloads the file to check its size; Sutra may run offline, so only the form is
    checked and a bad link shows when the message is sent.
    """
    url = str(call.query.get("url") or "").strip()
    if "@" in url:
        return {"is_valid": True, "message": "an expression, checked when the message is sent"}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return {"is_valid": False, "message": "the attachment must be an http(s) link"}
    return {"is_valid": True, "message": "success"}


@endpoint("flow-attachment", method="POST")
async def flow_attachment(call: Call) -> Any:
    # WhatsApp needs a public link to each file, which a self-hosted Sutra may not have.
    return JSONResponse(
        {
            "error": "uploads are not supported",
            "description": "Sutra does not store uploaded files: paste a public link instead.",
        },
        status_code=400,
    )


# --- revisions ---------------------------------------------------------------------------------


async def _flow(call: Call) -> m.Flow:
    if not call.args:
        raise HTTPException(404, "which flow?")
    flow = await flowstore.get_flow(call.state.repo, call.args[0])
    if flow is None:
        raise HTTPException(404, f"no flow {call.args[0]}")
    return flow


def _revision_json(row: m.FlowRevision, running_id: int | None) -> dict[str, Any]:
    if row.id == running_id:
        status = "published"
    elif flowstore.has_errors(row.issues or []):
        status = "invalid"
    else:
        status = "saved"
    author = row.created_by or "Sutra"
    return {
        "id": row.id,
        "revision": row.revision,
        "version": row.spec_version,
        "created_on": row.created_at.isoformat(),
        "user": {"name": author, "email": author},
        "status": status,
        "issues": len(row.issues or []),
    }


@endpoint("revisions")
async def revisions(call: Call) -> Any:
    flow = await _flow(call)
    if len(call.args) == 1:
        rows = await flowstore.revisions(call.state.repo, flow)
        return results([_revision_json(row, flow.current_revision_id) for row in rows])
    try:
        revision_id = int(call.args[1])
    except ValueError:
        raise HTTPException(404, f"no revision {call.args[1]!r}") from None
    if not 0 < revision_id < 2**63:
        # Past the database's 64-bit integers the query itself would fail (a 500).
        raise HTTPException(404, f"no revision {revision_id} of flow {flow.uuid}")
    row = await flowstore.revision(call.state.repo, flow, revision_id)
    if row is None:
        raise HTTPException(404, f"no revision {revision_id} of flow {flow.uuid}")
    # Served as stored (no spec migration); "revision" is the number the editor counts from.
    definition = flowstore.with_layout({**row.definition, "revision": row.revision})
    issues = flowstore.editor_issues(row.issues or [])
    return {
        "definition": definition,
        "issues": issues,
        "metadata": {"issues": issues, "dependencies": [], "results": [], "parent_refs": []},
    }


@endpoint("revisions", method="POST")
async def save_revision(call: Call) -> Any:
    flow = await _flow(call)
    definition = await call.json()
    try:
        saved = await flowstore.save_definition(
            call.state.repo, flow.uuid, definition, user=call.user.email
        )
    except flowstore.FlowError as exc:
        return JSONResponse({"error": str(exc), "description": str(exc)}, status_code=400)
    if saved.changed:
        call.state.runner.invalidate()
        log.info(
            "flow %s saved as revision %d by %s (%s)",
            flow.uuid,
            saved.revision.revision,
            call.user.email,
            "running" if saved.running else f"not running: {len(saved.issues)} problems",
        )
    revision = _revision_json(saved.revision, saved.revision.id if saved.running else None)
    issues = flowstore.editor_issues(saved.issues)
    return {"revision": revision, "issues": issues, "metadata": {"issues": issues}}


# --- live activity -----------------------------------------------------------------------------

# Bounds the work of one poll (every minute per open editor) on a busy flow.
_ACTIVITY_RUNS = 20_000
_RECENT_RUNS = 500
_LIVE = ("active", "waiting")


@endpoint("activity")
async def activity(call: Call) -> Any:
    """Contacts at each node now, and how many went along each arrow (recent runs)."""
    flow_uuid = str(call.query.get("flow") or (call.args[0] if call.args else ""))
    nodes: Counter[str] = Counter()
    segments: Counter[str] = Counter()
    if flow_uuid:
        async with call.state.repo.sessions() as db:
            rows = await db.execute(
                select(m.Run.status, m.Run.path)
                .join(m.Contact, m.Contact.id == m.Run.contact_id)
                .where(m.Contact.organization_id == call.state.repo.org)
                .where(m.Run.flow_uuid == flow_uuid)
                .order_by(m.Run.id.desc())
                .limit(_ACTIVITY_RUNS)
            )
            for status, path in rows:
                steps = [s for s in path or [] if isinstance(s, dict)]
                if status in _LIVE and steps and steps[-1].get("node_uuid"):
                    nodes[str(steps[-1]["node_uuid"])] += 1
                for here, there in itertools.pairwise(steps):
                    if here.get("exit_uuid") and there.get("node_uuid"):
                        segments[f"{here['exit_uuid']}:{there['node_uuid']}"] += 1
    return {"nodes": dict(nodes), "segments": dict(segments), "recentMessages": {}}


@endpoint("recents")
async def recents(call: Call) -> Any:
    """The last contacts that went from ``exit`` to ``dest``, with what they answered."""
    if len(call.args) < 3:
        return []
    exit_uuid, dest_uuid, flow_uuid = call.args[:3]
    found: list[dict[str, Any]] = []
    async with call.state.repo.sessions() as db:
        rows = await db.execute(
            select(m.Run.path, m.Run.results, m.Contact.uuid, m.Contact.name, m.Contact.urn)
            .join(m.Contact, m.Contact.id == m.Run.contact_id)
            .where(m.Contact.organization_id == call.state.repo.org)
            .where(m.Run.flow_uuid == flow_uuid)
            .order_by(m.Run.updated_at.desc())
            .limit(_RECENT_RUNS)
        )
        for path, run_results, uuid, name, urn in rows:
            steps = [s for s in path or [] if isinstance(s, dict)]
            for here, there in itertools.pairwise(steps):
                if here.get("exit_uuid") == exit_uuid and there.get("node_uuid") == dest_uuid:
                    operand = next(
                        (
                            str(r.get("input") or r.get("value") or "")
                            for r in (run_results or {}).values()
                            if isinstance(r, dict) and r.get("node_uuid") == here.get("node_uuid")
                        ),
                        "",
                    )
                    found.append(
                        {
                            "contact": {"uuid": uuid, "name": name or urn},
                            "operand": operand,
                            "time": there.get("arrived_on"),
                        }
                    )
            if len(found) >= 5:
                break
    found.sort(key=lambda item: str(item["time"] or ""), reverse=True)
    return found[:5]
