"""Read flow files: a bare definition, a Glific export or a RapidPro/TextIt export.

Older RapidPro/TextIt exports (legacy ``action_sets``, spec 11 and 12) are migrated first, as
RapidPro migrates them on import (:mod:`sutra.flows.legacy`).

A broken file is refused with every problem found, each named by its JSON path:
``flows[0].nodes[3].router.cases[1].type: unknown case type "has_foo"``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from sutra import jsonparse
from sutra.engine.actions.base import ACTIONS
from sutra.flows.legacy import upgrade_file
from sutra.flows.models import Flow
from sutra.flows.validate import FlowIssue, validate_flow

FileFormat = Literal["definition", "glific", "rapidpro"]


class FlowFileError(ValueError):
    def __init__(self, issues: list[FlowIssue], *, source: str = "") -> None:
        self.issues = issues
        self.source = source
        first = str(issues[0]) if issues else "invalid flow file"
        more = f" (and {len(issues) - 1} more problems)" if len(issues) > 1 else ""
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{first}{more}")


@dataclass
class LoadedFlow:
    flow: Flow
    # The definition exactly as it came (``_ui`` and all), for storage and export.
    definition: dict[str, Any]
    keywords: list[str] = field(default_factory=list)
    path: str = ""


@dataclass
class FlowFile:
    format: FileFormat
    flows: list[LoadedFlow]
    fields: list[dict[str, str]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    warnings: list[FlowIssue] = field(default_factory=list)

    def find(self, name_or_uuid: str | None = None) -> LoadedFlow:
        """The flow named or uuid'd, else the first one."""
        if not name_or_uuid:
            return self.flows[0]
        wanted = name_or_uuid.strip().lower()
        for loaded in self.flows:
            if wanted in (loaded.flow.uuid.lower(), loaded.flow.name.lower()):
                return loaded
        names = ", ".join(repr(loaded.flow.name) for loaded in self.flows)
        raise LookupError(f"no flow {name_or_uuid!r} in this file (it has {names})")


def read_flow_file(path: str | Path, *, known_flows: Iterable[str] = ()) -> FlowFile:
    """Load a flow file from disk; raises :class:`FlowFileError` with a readable reason."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowFileError([FlowIssue("$", "file not found")], source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FlowFileError(
            [FlowIssue("$", f"cannot read file: {reason}")], source=source
        ) from None
    try:
        data = jsonparse.loads(text)
    except json.JSONDecodeError as exc:
        issue = FlowIssue("$", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        raise FlowFileError([issue], source=source) from None
    except jsonparse.JSONTooDeep as exc:
        raise FlowFileError([FlowIssue(exc.path, exc.problem)], source=source) from None
    try:
        return parse_flow_file(data, known_flows=known_flows)
    except FlowFileError as exc:
        raise FlowFileError(exc.issues, source=source) from None


def parse_flow_file(data: Any, *, known_flows: Iterable[str] = ()) -> FlowFile:
    """Load flows from decoded JSON. ``known_flows``: uuids of flows stored already, which
    the file's flows may start as sub-flows without holding them.

    >>> file = parse_flow_file({"version": "13", "flows": [{"uuid": "f1", "name": "Hi",
    ...     "nodes": [{"uuid": "n1", "actions": [{"type": "send_msg", "uuid": "a1", "text": "Hi"}],
    ...                "exits": [{"uuid": "e1", "destination_uuid": "n9"}]}]}]})
    Traceback (most recent call last):
    ...
    sutra.flows.load.FlowFileError: flows[0].nodes[0].exits[0].destination_uuid:
      no node "n9" in this flow
    """
    upgraded = upgrade_file(data)
    if upgraded.errors:
        raise FlowFileError(upgraded.errors)
    data = upgraded.data
    if isinstance(data, dict) and "nodes" in data:
        entries: list[tuple[str, Any, list[str]]] = [("", data, [])]
        file_format: FileFormat = "definition"
    elif isinstance(data, dict) and isinstance(data.get("flows"), list):
        entries = []
        glific = any(isinstance(item, dict) and "definition" in item for item in data["flows"])
        file_format = "glific" if glific else "rapidpro"
        for index, item in enumerate(data["flows"]):
            if glific:
                definition = item.get("definition") if isinstance(item, dict) else None
                keywords = item.get("keywords") if isinstance(item, dict) else None
                entries.append((f"flows[{index}].definition", definition, _strings(keywords)))
            else:
                entries.append((f"flows[{index}]", item, []))
    else:
        raise FlowFileError(
            [
                FlowIssue(
                    "$",
                    'not a flow file: expected a flow definition (with "nodes", or a legacy '
                    'one with "action_sets") or an export (with a "flows" list)',
                )
            ]
        )
    if not entries:
        raise FlowFileError([FlowIssue("flows", "the file holds no flows")])

    errors: list[FlowIssue] = []
    warnings: list[FlowIssue] = list(upgraded.warnings)
    flows: list[LoadedFlow] = []
    for prefix, definition, keywords in entries:
        if not isinstance(definition, dict):
            errors.append(FlowIssue(prefix or "$", "expected a flow definition object"))
            continue
        try:
            flow = Flow.model_validate(definition)
        except ValidationError as exc:
            errors.extend(_pydantic_issues(exc, prefix))
            continue
        flows.append(LoadedFlow(flow, definition, keywords, prefix))

    known = {loaded.flow.uuid for loaded in flows} | set(known_flows)
    for loaded in flows:
        found = validate_flow(loaded.flow, known_flows=known)
        errors.extend(issue.under(loaded.path) for issue in found.errors)
        warnings.extend(issue.under(loaded.path) for issue in found.warnings)
    if errors:
        raise FlowFileError(errors)

    fields: list[dict[str, str]] = []
    groups: list[str] = []
    if file_format == "glific":
        fields = [{"key": key, "name": key} for key in _strings(data.get("contact_field"))]
        groups = _strings(data.get("collections"))
    elif file_format == "rapidpro":
        for item in data.get("fields") or []:
            if isinstance(item, dict) and item.get("key"):
                fields.append(
                    {"key": str(item["key"]), "name": str(item.get("name") or item["key"])}
                )
        groups = [str(g.get("name")) for g in data.get("groups") or [] if isinstance(g, dict)]
    return FlowFile(file_format, flows, fields, groups, warnings)


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and (item.get("key") or item.get("name")):
            out.append(str(item.get("key") or item.get("name")))
    return out


def _pydantic_issues(exc: ValidationError, prefix: str) -> list[FlowIssue]:
    issues = []
    for error in exc.errors():
        parts: list[str] = []
        loc = list(error["loc"])
        for i, part in enumerate(loc):
            # Drop the action type tag pydantic puts after "actions[i]" in a tagged union.
            if (
                isinstance(part, str)
                and i >= 2
                and loc[i - 2] == "actions"
                and (part in ACTIONS or part == "__unknown__")
            ):
                continue
            parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
        path = (prefix + "".join(parts)).lstrip(".") or "$"
        issues.append(FlowIssue(path, _message(error)))
    return issues


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return error["msg"].lower()
    given = error.get("input")
    shown = json.dumps(given, ensure_ascii=False, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {shown})"
