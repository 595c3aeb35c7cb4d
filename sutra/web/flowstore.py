"""Flows as the editor and the flow list change them: create, rename, archive, save, export.

Every change of what a definition runs is a new :class:`~sutra.store.models.FlowRevision`
(a change of layout alone, nodes moved on the canvas, is kept in the latest revision). A revision
without errors becomes the running definition at once (``Flow.current_revision_id``); one with
errors is kept, so that nothing drawn is lost, and flagged with its problems, while the flow
keeps running its last good revision. The runner notices new revisions by itself
(``Repository.flows_version``); callers in this process also call ``runner.invalidate()``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sutra.flows import FlowFileError, parse_flow_file
from sutra.flows.models import Flow
from sutra.flows.validate import FlowIssue, issue_json, validate_flow
from sutra.store import models as m
from sutra.store.repository import Repository

# What a new flow starts as: the editor shows nothing until a flow has a revision.
NEW_FLOW_SPEC = "13.1.0"
# Saves come about a second after each edit; a race between two of them for the same number
# is settled by the unique (flow, revision) key and a retry.
_SAVE_ATTEMPTS = 5


class FlowError(ValueError):
    """A change that cannot be made; the message is for the person who asked."""


@dataclass
class Saved:
    revision: m.FlowRevision
    issues: list[dict[str, Any]]
    # Whether this revision is what contacts now run (False: it has errors).
    running: bool
    # False when the definition equalled the latest revision's and nothing was stored.
    changed: bool = True


@dataclass
class FlowSummary:
    flow: m.Flow
    latest: m.FlowRevision | None
    running: m.FlowRevision | None
    issues: list[dict[str, Any]] = field(default_factory=list)


def new_definition(uuid: str, name: str) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": name,
        "spec_version": NEW_FLOW_SPEC,
        "language": "base",
        "type": "messaging",
        "revision": 1,
        "expire_after_minutes": 10080,
        "localization": {},
        "nodes": [],
        "_ui": {"nodes": {}, "languages": [], "stickies": {}},
    }


def _ui_type(node: dict[str, Any]) -> str:
    """The editor's name for a node's kind, for nodes a file brought without layout."""
    actions = [a for a in node.get("actions") or [] if isinstance(a, dict)]
    router = node.get("router") if isinstance(node.get("router"), dict) else None
    if router is None:
        return "execute_actions"
    kinds = {a.get("type") for a in actions}
    if "call_webhook" in kinds:
        return "split_by_webhook"
    if "enter_flow" in kinds:
        return "split_by_subflow"
    if router.get("type") == "random":
        return "split_by_random"
    if isinstance(router.get("wait"), dict):
        return "wait_for_response"
    return "split_by_expression"


def with_layout(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with an ``_ui`` block the editor can open.

    The editor reads each node's position from ``_ui.nodes`` and fails on a node that has
    none, which is how flows written by hand or by other tools arrive. Missing nodes are laid
    out in rows by their distance from the first node; existing positions are kept. The stored
    revision is not changed: the editor saves the layout with its next edit.
    """
    ui = definition.get("_ui")
    ui = dict(ui) if isinstance(ui, dict) else {}
    placed = dict(ui.get("nodes") or {}) if isinstance(ui.get("nodes"), dict) else {}
    nodes = [n for n in definition.get("nodes") or [] if isinstance(n, dict) and n.get("uuid")]
    missing = [n for n in nodes if n["uuid"] not in placed]
    if missing:
        depth: dict[str, int] = {}
        queue = [nodes[0]["uuid"]] if nodes else []
        by_uuid = {n["uuid"]: n for n in nodes}
        if queue:
            depth[queue[0]] = 0
        while queue:
            here = queue.pop(0)
            for exit_ in by_uuid[here].get("exits") or []:
                target = exit_.get("destination_uuid") if isinstance(exit_, dict) else None
                if target in by_uuid and target not in depth:
                    depth[target] = depth[here] + 1
                    queue.append(target)
        deepest = max(depth.values(), default=-1)
        row_sizes: dict[int, int] = {}
        for node in missing:
            row = depth.setdefault(node["uuid"], deepest + 1)
            column = row_sizes.get(row, 0)
            row_sizes[row] = column + 1
            placed[node["uuid"]] = {
                "position": {"left": 40 + column * 320, "top": 40 + row * 220},
                "type": _ui_type(node),
            }
    ui["nodes"] = placed
    ui.setdefault("languages", [])
    ui.setdefault("stickies", {})
    return {**definition, "_ui": ui}


def parse_keywords(text: str | list[str] | None) -> list[str]:
    """Keywords as typed ("hi, Hello ,hi") to the stored list: trimmed, lower case, unique.

    >>> parse_keywords("hi, Hello ,hi,, ")
    ['hi', 'hello']
    """
    items = text.split(",") if isinstance(text, str) else list(text or [])
    return list(dict.fromkeys(k.strip().lower() for k in items if k and k.strip()))


# --- checking a definition ---------------------------------------------------------------------


def check_definition(
    definition: dict[str, Any], known_flows: set[str]
) -> tuple[list[dict[str, Any]], bool]:
    """The definition's problems in the editor's issue format, and whether it can run.

    Each problem names the node (and action) it is about, which is how the editor pins it to
    the canvas; ``severity`` tells errors (the revision cannot run) from warnings (a step Sutra
    will skip). ``path`` is where in the JSON it is.
    """
    try:
        flow = Flow.model_validate(definition)
    except ValidationError:
        # parse_flow_file words pydantic's complaints the way flow authors read them elsewhere.
        try:
            parse_flow_file(definition)
        except FlowFileError as exc:
            return [issue_json(definition, i, "error") for i in exc.issues], False
        return [issue_json(definition, FlowIssue("$", "invalid flow definition"), "error")], False
    found = validate_flow(flow, known_flows=frozenset(known_flows | {flow.uuid}))
    issues = [issue_json(definition, i, "error") for i in found.errors]
    issues += [issue_json(definition, i, "warning") for i in found.warnings]
    return issues, not found.errors


def editor_issues(issues: list[Any]) -> list[dict[str, Any]]:
    """The issues the editor can show: those pinned to a node (others have nowhere to go)."""
    return [i for i in issues if isinstance(i, dict) and i.get("node_uuid")]


def has_errors(issues: list[Any]) -> bool:
    return any(isinstance(i, dict) and i.get("severity") == "error" for i in issues)


# --- reading -----------------------------------------------------------------------------------


async def get_flow(repo: Repository, uuid: str) -> m.Flow | None:
    async with repo.sessions() as db:
        flow: m.Flow | None = await db.scalar(
            select(m.Flow)
            .where(m.Flow.organization_id == repo.org, m.Flow.uuid == uuid)
            .options(selectinload(m.Flow.current_revision))
        )
        return flow


async def _latest(db: AsyncSession, flow_id: int) -> m.FlowRevision | None:
    latest: m.FlowRevision | None = await db.scalar(
        select(m.FlowRevision)
        .where(m.FlowRevision.flow_id == flow_id)
        .order_by(m.FlowRevision.revision.desc())
        .limit(1)
    )
    return latest


async def list_flows(repo: Repository, *, archived: bool = False) -> list[FlowSummary]:
    """Flows by name, each with its newest revision and the one that runs."""
    async with repo.sessions() as db:
        flows = list(
            await db.scalars(
                select(m.Flow)
                .where(m.Flow.organization_id == repo.org, m.Flow.archived.is_(archived))
                .options(selectinload(m.Flow.current_revision))
                .order_by(func.lower(m.Flow.name), m.Flow.id)
            )
        )
        newest = (
            select(m.FlowRevision.flow_id, func.max(m.FlowRevision.revision).label("number"))
            .where(m.FlowRevision.flow_id.in_([f.id for f in flows]))
            .group_by(m.FlowRevision.flow_id)
            .subquery()
        )
        latest = {
            r.flow_id: r
            for r in await db.scalars(
                select(m.FlowRevision).join(
                    newest,
                    (newest.c.flow_id == m.FlowRevision.flow_id)
                    & (newest.c.number == m.FlowRevision.revision),
                )
            )
        }
    out = []
    for flow in flows:
        last = latest.get(flow.id)
        issues = list((last.issues if last else None) or [])
        out.append(FlowSummary(flow, last, flow.current_revision, issues))
    return out


async def revisions(repo: Repository, flow: m.Flow, limit: int = 100) -> list[m.FlowRevision]:
    """The flow's revisions, newest first."""
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.FlowRevision)
            .where(m.FlowRevision.flow_id == flow.id)
            .order_by(m.FlowRevision.revision.desc())
            .limit(limit)
        )
        return list(rows)


async def revision(repo: Repository, flow: m.Flow, revision_id: int) -> m.FlowRevision | None:
    async with repo.sessions() as db:
        row: m.FlowRevision | None = await db.scalar(
            select(m.FlowRevision).where(
                m.FlowRevision.flow_id == flow.id, m.FlowRevision.id == revision_id
            )
        )
        return row


async def latest_revision(repo: Repository, flow: m.Flow) -> m.FlowRevision | None:
    async with repo.sessions() as db:
        return await _latest(db, flow.id)


async def flow_uuids(repo: Repository) -> set[str]:
    async with repo.sessions() as db:
        rows = await db.scalars(select(m.Flow.uuid).where(m.Flow.organization_id == repo.org))
        return set(rows)


# --- writing -----------------------------------------------------------------------------------


async def _keyword_clash(
    db: AsyncSession, repo: Repository, keywords: list[str], except_uuid: str | None
) -> str | None:
    if not keywords:
        return None
    rows = await db.execute(
        select(m.Flow.uuid, m.Flow.name, m.Flow.keywords).where(
            m.Flow.organization_id == repo.org, m.Flow.archived.is_(False)
        )
    )
    for uuid, name, used in rows:
        if uuid == except_uuid:
            continue
        taken = set(parse_keywords(list(used or []))) & set(keywords)
        if taken:
            return f'the keyword "{sorted(taken)[0]}" already starts the flow "{name}"'
    return None


async def create_flow(
    repo: Repository, name: str, keywords: list[str], *, user: str | None
) -> m.Flow:
    name = name.strip()
    if not name:
        raise FlowError("a flow needs a name")
    async with repo.sessions.begin() as db:
        clash = await _keyword_clash(db, repo, keywords, None)
        if clash:
            raise FlowError(clash)
        flow = m.Flow(organization_id=repo.org, uuid=m.new_uuid(), name=name, keywords=keywords)
        db.add(flow)
        await db.flush()
        first = m.FlowRevision(
            flow_id=flow.id,
            revision=1,
            definition=new_definition(flow.uuid, name),
            spec_version=NEW_FLOW_SPEC,
            issues=[],
            created_by=user,
        )
        db.add(first)
        await db.flush()
        flow.current_revision_id = first.id
    return flow


async def update_flow(
    repo: Repository,
    uuid: str,
    *,
    name: str | None = None,
    keywords: list[str] | None = None,
    archived: bool | None = None,
    user: str | None,
) -> m.Flow:
    """Rename, re-keyword, archive or restore a flow.

    A new name is written into the definition too (as a new revision), so that the editor,
    exports and the simulator all call the flow the same.
    """
    async with repo.sessions.begin() as db:
        flow = await db.scalar(
            select(m.Flow).where(m.Flow.organization_id == repo.org, m.Flow.uuid == uuid)
        )
        if flow is None:
            raise LookupError(f"no flow {uuid}")
        if keywords is not None:
            flow.keywords = keywords
        # Only active flows answer keywords, so only they may not share one.
        active_after = not (archived if archived is not None else flow.archived)
        if active_after and (keywords is not None or flow.archived):
            clash = await _keyword_clash(db, repo, parse_keywords(flow.keywords), uuid)
            if clash:
                raise FlowError(clash if not flow.archived else f"cannot restore: {clash}")
        if archived is not None:
            flow.archived = archived
        if name is not None and name.strip() and name.strip() != flow.name:
            flow.name = name.strip()
            latest = await _latest(db, flow.id)
            if latest is not None:
                definition = {**latest.definition, "name": flow.name}
                await _add_revision(db, flow, latest, definition, user=user, issues=latest.issues)
    return flow


async def _add_revision(
    db: AsyncSession,
    flow: m.Flow,
    latest: m.FlowRevision | None,
    definition: dict[str, Any],
    *,
    user: str | None,
    issues: list[Any],
) -> m.FlowRevision:
    number = (latest.revision + 1) if latest else 1
    # The editor takes the definition's own "revision" as the number it is editing.
    definition = {**definition, "revision": number}
    row = m.FlowRevision(
        flow_id=flow.id,
        revision=number,
        definition=definition,
        spec_version=str(definition.get("spec_version") or NEW_FLOW_SPEC),
        issues=issues,
        created_by=user,
    )
    db.add(row)
    await db.flush()
    if not has_errors(issues):
        flow.current_revision_id = row.id
    return row


# What a definition holds that does not change how it runs: its revision number, the spec
# version the editor labels it with, and where its nodes sit on the canvas.
_NOT_CONTENT = ("revision", "spec_version", "_ui")


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two definitions run the same (layout and labels aside).

    >>> same_content({"nodes": [], "spec_version": "13.1.0"}, {"nodes": [], "_ui": {}})
    True
    >>> same_content({"nodes": []}, {"nodes": [{"uuid": "n"}]})
    False
    """
    return {k: v for k, v in a.items() if k not in _NOT_CONTENT} == {
        k: v for k, v in b.items() if k not in _NOT_CONTENT
    }


async def save_definition(
    repo: Repository, flow_uuid: str, definition: Any, *, user: str | None
) -> Saved:
    """Store what the editor sent as the flow's next revision (see the module's docstring)."""
    if not isinstance(definition, dict):
        raise FlowError("expected a flow definition (a JSON object)")
    if definition.get("uuid") != flow_uuid:
        raise FlowError(f"this definition is for flow {definition.get('uuid')!r}, not {flow_uuid}")
    issues, runnable = check_definition(definition, await flow_uuids(repo))
    for attempt in range(_SAVE_ATTEMPTS):
        try:
            async with repo.sessions.begin() as db:
                flow = await db.scalar(
                    select(m.Flow).where(
                        m.Flow.organization_id == repo.org, m.Flow.uuid == flow_uuid
                    )
                )
                if flow is None:
                    raise LookupError(f"no flow {flow_uuid}")
                latest = await _latest(db, flow.id)
                if latest is not None and same_content(latest.definition, definition):
                    # Nothing that runs changed: no revision. The editor saves an older flow
                    # as soon as it opens it (labelled with its own spec version, nodes moved
                    # apart); a person may have moved nodes. The layout is kept in place.
                    if "_ui" in definition and definition["_ui"] != latest.definition.get("_ui"):
                        latest.definition = {**latest.definition, "_ui": definition["_ui"]}
                    running = flow.current_revision_id == latest.id
                    return Saved(latest, list(latest.issues or []), running, changed=False)
                row = await _add_revision(db, flow, latest, definition, user=user, issues=issues)
                name = definition.get("name")
                if isinstance(name, str) and name.strip():
                    flow.name = name.strip()
                return Saved(row, issues, runnable)
        except IntegrityError:
            if attempt == _SAVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# --- export ------------------------------------------------------------------------------------

_FIELD_REF = re.compile(r"@\(?(?:contact\.)?fields\.([A-Za-z0-9_]+)")


def walk_actions(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action of a stored definition, read as plain JSON (it may not even validate)."""
    return [
        action
        for node in definition.get("nodes") or []
        if isinstance(node, dict)
        for action in node.get("actions") or []
        if isinstance(action, dict)
    ]


def _fields_of(definition: dict[str, Any]) -> list[str]:
    keys = [m_.group(1) for m_ in _FIELD_REF.finditer(json.dumps(definition, ensure_ascii=False))]
    for action in walk_actions(definition):
        field_ = action.get("field")
        if (
            action.get("type") == "set_contact_field"
            and isinstance(field_, dict)
            and field_.get("key")
        ):
            keys.append(str(field_["key"]))
    return keys


def _groups_of(definition: dict[str, Any]) -> list[str]:
    names = []
    for action in walk_actions(definition):
        if action.get("type") in ("add_contact_groups", "remove_contact_groups"):
            for group in action.get("groups") or []:
                if isinstance(group, dict) and group.get("name"):
                    names.append(str(group["name"]))
    return names


def _subflows_of(definition: dict[str, Any]) -> list[str]:
    out = []
    for action in walk_actions(definition):
        target = action.get("flow")
        if (
            action.get("type") == "enter_flow"
            and isinstance(target, dict)
            and isinstance(target.get("uuid"), str)
        ):
            out.append(target["uuid"])
    return out


async def export_flows(repo: Repository, uuid: str) -> dict[str, Any]:
    """A Glific export of the flow and the sub-flows it starts (running revisions).

    ``contact_field`` and ``collections`` name the contact fields and groups the flows use, so
    that importing the file elsewhere creates them first, as Glific's own exports do.
    """
    flows: list[dict[str, Any]] = []
    fields: list[str] = []
    groups: list[str] = []
    pending, seen = [uuid], set()
    async with repo.sessions() as db:
        while pending:
            current = pending.pop(0)
            if current in seen:
                continue
            seen.add(current)
            row = await db.scalar(
                select(m.Flow)
                .where(m.Flow.organization_id == repo.org, m.Flow.uuid == current)
                .options(selectinload(m.Flow.current_revision))
            )
            if row is None or row.current_revision is None:
                if current == uuid:
                    raise LookupError(f"no flow {uuid}")
                continue  # a sub-flow that is gone: the import will warn about it
            definition = row.current_revision.definition
            flows.append({"definition": definition, "keywords": list(row.keywords or [])})
            fields += _fields_of(definition)
            groups += _groups_of(definition)
            pending += _subflows_of(definition)
    return {
        "interactive_templates": [],
        "flows": flows,
        "contact_field": list(dict.fromkeys(fields)),
        "collections": list(dict.fromkeys(groups)),
    }
