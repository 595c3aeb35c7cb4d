"""WhatsApp message templates (HSM) on the wire: the Business Account's template list from the
Graph API, a template's body variables, its text with values filled in, and the ``template``
object a send carries.

The list is ``GET /{version}/{waba_id}/message_templates`` with the access token; Meta pages it
(``paging.cursors.after``, and ``paging.next`` while there is more). What goes wrong is a
:class:`TemplateError` phrased for staff (which setting to fix), never holding the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from sutra.redact import REDACTED, redact_text

FIELDS = "name,language,status,category,components,parameter_format"
PAGE_SIZE = 100
# An account has at most a few hundred templates (Meta caps them at 250 by default, 6,000 for
# the largest); past this many pages the list is not followed further.
MAX_PAGES = 100
TIMEOUT = 30.0
# {{1}}, {{2}}... (positional) or {{first_name}} (named parameters).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# What a variable may hold: WhatsApp refuses a body parameter over 1024 characters, and one
# with a newline, a tab or more than 4 spaces in a row.
MAX_VALUE = 1024


class TemplateError(Exception):
    """A template list that could not be fetched, or a send that does not fit its template;
    ``status`` is the HTTP status the console answers with."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Template:
    """One template in one language, as the template list gives it."""

    name: str
    language: str
    status: str
    category: str | None
    components: list[dict[str, Any]]
    external_id: str | None = None

    @property
    def body(self) -> str:
        return body_text(self.components)

    @property
    def variables(self) -> list[str]:
        return placeholders(self.body)


def body_text(components: list[Any]) -> str:
    """The BODY component's text.

    >>> body_text([{"type": "HEADER", "text": "Hi"}, {"type": "BODY", "text": "Dear {{1}}"}])
    'Dear {{1}}'
    """
    return _text_of(components, "BODY")


def _text_of(components: list[Any], kind: str) -> str:
    for component in components:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            text = component.get("text")
            return text if isinstance(text, str) else ""
    return ""


def header_text(components: list[Any]) -> str:
    return _text_of(components, "HEADER")


def footer_text(components: list[Any]) -> str:
    return _text_of(components, "FOOTER")


def unsupported(components: list[Any]) -> str | None:
    """Why Sutra cannot send this template (it fills in body variables only), or None.

    >>> unsupported([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi"}])
    'its header is an image, which Sutra does not send yet'
    >>> unsupported([{"type": "BODY", "text": "Hi {{1}}"}, {"type": "FOOTER", "text": "Bye"}])
    """
    for component in components:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            media = str(component.get("format", "TEXT")).upper()
            if media != "TEXT":
                article = "an" if media[:1] in "AEIOU" else "a"
                return f"its header is {article} {media.lower()}, which Sutra does not send yet"
            if PLACEHOLDER.search(str(component.get("text", ""))):
                return "its header has a variable, which Sutra does not fill in yet"
        if kind == "BUTTONS":
            for button in component.get("buttons") or []:
                if isinstance(button, dict) and PLACEHOLDER.search(str(button.get("url", ""))):
                    return "a button's link has a variable, which Sutra does not fill in yet"
        if kind in ("CAROUSEL", "LIMITED_TIME_OFFER"):
            return f"its {kind.lower().replace('_', ' ')} is not sent by Sutra yet"
    return None


def full_text(components: list[Any], values: list[str]) -> str:
    """What the contact reads: the header, the body with its values, the footer.

    >>> header = {"type": "HEADER", "format": "TEXT", "text": "Clinic"}
    >>> body, footer = {"type": "BODY", "text": "Hi {{1}}"}, {"type": "FOOTER", "text": "Bye"}
    >>> print(full_text([header, body, footer], ["Asha"]))
    Clinic
    <BLANKLINE>
    Hi Asha
    <BLANKLINE>
    Bye
    """
    parts = [
        _text_of(components, "HEADER"),
        render(body_text(components), values),
        _text_of(components, "FOOTER"),
    ]
    return "\n\n".join(part for part in parts if part)


def placeholders(body: str) -> list[str]:
    """The body's variables in order, each once: ``["1", "2"]`` or named ones.

    >>> placeholders("Hi {{1}}, your visit is on {{2}}. Bye {{1}}")
    ['1', '2']
    >>> placeholders("Hello {{ first_name }}")
    ['first_name']
    """
    seen: list[str] = []
    for name in PLACEHOLDER.findall(body):
        if name not in seen:
            seen.append(name)
    if seen and all(name.isdigit() for name in seen):
        seen.sort(key=int)
    return seen


def render(body: str, values: list[str]) -> str:
    """The text the contact reads: the body with each variable's value in its place.

    >>> render("Hi {{1}}, see you on {{2}}.", ["Asha", "Monday"])
    'Hi Asha, see you on Monday.'
    """
    names = placeholders(body)
    given = dict(zip(names, values, strict=False))
    return PLACEHOLDER.sub(lambda m: given.get(m.group(1), m.group(0)), body)


def check_values(variables: list[str], values: list[str], field: str = "variables") -> list[str]:
    """``values`` cleaned, or a :class:`TemplateError` (422) naming the field and the variable.

    >>> check_values(["1"], [" Asha "])
    ['Asha']
    >>> try:
    ...     check_values(["1", "2"], ["Asha"])
    ... except TemplateError as exc:
    ...     print(exc.status, exc)
    422 variables: the template has 2 variables ({{1}}, {{2}}), 1 given
    """
    if len(values) != len(variables):
        listed = ", ".join(f"{{{{{name}}}}}" for name in variables) or "none"
        raise TemplateError(
            f"{field}: the template has {len(variables)} variable"
            f"{'s' if len(variables) != 1 else ''} ({listed}), {len(values)} given",
            422,
        )
    out = []
    for index, (name, value) in enumerate(zip(variables, values, strict=True)):
        # WhatsApp refuses newlines, tabs and runs of spaces in a parameter: they are folded.
        value = " ".join(str(value).split())
        where = f"{field}[{index}] ({{{{{name}}}}})"
        if not value:
            raise TemplateError(f"{where}: must not be empty", 422)
        if len(value) > MAX_VALUE:
            raise TemplateError(f"{where}: longer than {MAX_VALUE} characters", 422)
        out.append(value)
    return out


def send_object(
    name: str, language: str, variables: list[str], values: list[str]
) -> dict[str, Any]:
    """The ``template`` of a send: the body's parameters as a ``body`` component (named ones
    with their ``parameter_name``).

    >>> send_object("visit", "en", ["1"], ["Asha"])["components"]
    [{'type': 'body', 'parameters': [{'type': 'text', 'text': 'Asha'}]}]
    """
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if variables:
        positional = all(v.isdigit() for v in variables)
        parameters = [
            {"type": "text", "text": value}
            if positional
            else {"type": "text", "parameter_name": variable, "text": value}
            for variable, value in zip(variables, values, strict=True)
        ]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return template


def parse(item: Any, index: int) -> Template:
    """One entry of the list's ``data``; a :class:`TemplateError` naming it when malformed."""
    where = f"data[{index}]"
    if not isinstance(item, dict):
        raise TemplateError(f"the Graph API's template list: {where} is not an object")
    name, language, status = item.get("name"), item.get("language"), item.get("status")
    for key, value in (("name", name), ("language", language), ("status", status)):
        if not isinstance(value, str) or not value or len(value) > 512:
            raise TemplateError(f"the Graph API's template list: {where}.{key} is missing")
    components = item.get("components")
    category = item.get("category")
    external_id = item.get("id")
    return Template(
        name=str(name),
        language=str(language),
        status=str(status).upper(),
        category=str(category) if isinstance(category, str) else None,
        components=[c for c in components if isinstance(c, dict)]
        if isinstance(components, list)
        else [],
        external_id=str(external_id) if external_id is not None else None,
    )


def _graph_problem(response: httpx.Response, waba_id: str, access_token: str) -> TemplateError:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if response.status_code == 401 or code in (190, 102):
        return TemplateError(
            f"WhatsApp refused the access token (Graph API error {code or response.status_code}):"
            " set a valid whatsapp_access_token on the settings page",
            502,
        )
    if code == 100 and error.get("error_subcode") == 33:
        return TemplateError(
            f"whatsapp_business_account_id: the Graph API knows no WhatsApp Business Account "
            f"{waba_id} that this access token can read",
            502,
        )
    if code in (10, 200) or response.status_code == 403:
        return TemplateError(
            "the access token may not read this WhatsApp Business Account's templates "
            "(it needs the whatsapp_business_management permission)",
            502,
        )
    # Meta's own words, in case they say more than a code; never with a credential in them.
    message = redact_text(message.replace(access_token, REDACTED))[:300]
    detail = f": {message}" if message else ""
    return TemplateError(
        f"the Graph API answered {response.status_code} to the template list{detail}", 502
    )


async def fetch(
    http: httpx.AsyncClient,
    api_url: str,
    waba_id: str,
    access_token: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[Template]:
    """Every template of the account, following the pages; ``progress`` hears how many so far."""
    url = f"{api_url.rstrip('/')}/{waba_id}/message_templates"
    params: dict[str, str | int] = {"fields": FIELDS, "limit": PAGE_SIZE}
    headers = {"Authorization": f"Bearer {access_token}"}
    found: list[Template] = []
    for _ in range(MAX_PAGES):
        try:
            response = await http.get(url, params=params, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            # The exception's text may quote the request; the host is all staff need.
            host = httpx.URL(url).host
            raise TemplateError(
                f"could not reach the Graph API at {host} ({type(exc).__name__})", 502
            ) from None
        if not response.is_success:
            raise _graph_problem(response, waba_id, access_token)
        try:
            page = response.json()
        except ValueError:
            raise TemplateError("the Graph API's template list is not JSON") from None
        data = page.get("data") if isinstance(page, dict) else None
        if not isinstance(data, list):
            raise TemplateError("the Graph API's template list has no data")
        found.extend(parse(item, len(found) + i) for i, item in enumerate(data))
        if progress is not None:
            progress(len(found))
        paging = page.get("paging") if isinstance(page, dict) else None
        paging = paging if isinstance(paging, dict) else {}
        cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
        after = cursors.get("after")
        # "next" is there while more pages follow; the cursor is what asks for the next one
        # (the next URL itself is not followed: it would carry our request to wherever it says).
        if not paging.get("next") or not isinstance(after, str) or not after or not data:
            return found
        params = {**params, "after": after}
    return found
