"""``call_webhook``: call an HTTP endpoint or, with ``"method": "FUNCTION"``, a named function.

The engine only prepares the request; the runtime performs it and resumes the session with the
outcome. ``body`` is a JSON string: it is parsed first, then its strings are templated, so quotes
in what a contact typed cannot break it.

>>> from sutra.engine.testing import webhook_request
>>> webhook_request({
...     "type": "call_webhook", "uuid": "86264339-845a-4612-b1af-f542b5509678",
...     "method": "FUNCTION", "url": "parse_via_chat_gpt", "result_name": "gpt_response",
...     "headers": {"Accept": "application/json"},
...     "body": '{"question_text": "@results.question", "gpt_model": "gpt-4o", "n": 2}'
... }, results={"question": {"input": 'say "hi"', "value": 'say "hi"'}})["body"]
{'question_text': 'say "hi"', 'gpt_model': 'gpt-4o', 'n': 2}
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from sutra.engine.actions.base import Action, CallWebhook, Interrupt, action
from sutra.engine.scope import Scope
from sutra.engine.session import WebhookRequest


def _whole_object(name: str, scope: Scope) -> Any:
    context = scope.context()
    if name == "contact":
        contact = dict(context["contact"])
        contact.pop("__text__", None)
        contact["groups"] = [g["name"] for g in contact["groups"]]
        return contact
    return dict(context["results"])


def _template_json(value: Any, scope: Scope, depth: int = 0) -> Any:
    if isinstance(value, str):
        # Only a value of the body's own keys may stand for a whole object.
        if depth == 1 and value.strip() in ("@contact", "@results"):
            return _whole_object(value.strip()[1:], scope)
        return scope.template(value)
    if isinstance(value, dict):
        return {
            scope.template(key): _template_json(item, scope, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_template_json(item, scope, depth + 1) for item in value]
    return value


def parse_body(body: str) -> tuple[Any, str | None]:
    """The body as JSON, or the reason it is not JSON.

    >>> parse_body('{"a": 1,}')[1]
    'body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 9'
    """
    if not body.strip():
        return {}, None
    try:
        return json.loads(body), None
    except json.JSONDecodeError as exc:
        return None, f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


@action("call_webhook")
class CallWebhookAction(Action):
    type: Literal["call_webhook"] = "call_webhook"
    method: str = "GET"
    url: str
    headers: dict[str, str] = {}
    body: str = ""
    result_name: str | None = None

    result_fields: ClassVar[tuple[str, ...]] = ("result_name",)

    def execute(self, scope: Scope) -> Interrupt | None:
        method = self.method.upper()
        headers = {key: scope.template(value) for key, value in self.headers.items()}
        parsed, error = parse_body(self.body)
        body: Any
        if method == "FUNCTION":
            url = self.url.strip()
            body = _template_json(parsed, scope) if error is None else self.body
        else:
            url = scope.template(self.url.strip(), escape=lambda text: quote(text, safe=""))
            if error is None and self.body.strip():
                body = json.dumps(_template_json(parsed, scope), ensure_ascii=False)
            else:
                # A non-JSON body is only an error for functions; HTTP bodies can be any text.
                body = scope.template(self.body)
                error = None
        return CallWebhook(
            WebhookRequest(
                method=method,
                url=url,
                headers=headers,
                body=body,
                result_name=self.result_name,
                action_uuid=self.uuid,
                node_uuid=scope.node.uuid,
                flow_uuid=scope.flow.uuid,
                error=error,
            )
        )
