"""Perform the webhook a session waits for: a named function or an HTTP call.

Every call ends in a :class:`WebhookOutcome` (never an exception) and a :class:`WebhookLog`
whose request and response are redacted, so logs can be shown and exported safely.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from sutra import jsonparse
from sutra.config import get_settings
from sutra.engine.session import WebhookOutcome, WebhookRequest
from sutra.functions.registry import FunctionCall, FunctionError, get_function
from sutra.functions.services import Services
from sutra.llm.base import LLMError, Usage
from sutra.orgs.fairshare import fair_share
from sutra.outbound import FetchRefused, guarded_client
from sutra.redact import redact_url
from sutra.runtime.working import slot
from sutra.text import clean_json, clean_text

_SECRET_NAME = re.compile(r"auth|token|secret|key|password|signature|cookie", re.IGNORECASE)
REDACTED = "[redacted]"
# What of an answer the webhook log keeps, as RapidPro does; the flow gets the whole answer
# (up to WebhookSettings.max_bytes).
LOGGED_BYTES = 10_000


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-looking entries masked.

    >>> redact({"Authorization": "Bearer sk-1", "q": "hi", "nested": {"api_key": "x"}})
    {'Authorization': '[redacted]', 'q': 'hi', 'nested': {'api_key': '[redacted]'}}
    """
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and _SECRET_NAME.search(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def sign(secret: str, body: str, timestamp: int) -> str:
    """Glific's ``X-Glific-Signature`` header value for ``body``.

    >>> sign("s3cret", '{"a":1}', 1700000000)
    't=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940'
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass
class WebhookLog:
    method: str
    url: str
    request: dict[str, Any]
    response: Any
    status_code: int
    error: str | None
    duration_ms: float
    result_name: str | None = None
    usage: list[Usage] = field(default_factory=list)


@dataclass
class CallContext:
    organization_id: int
    flow_uuid: str
    contact_id: int | str | None
    result_name: str | None


@dataclass
class WebhookSettings:
    http_timeout: float = 5.0
    function_timeout: float = 600.0
    signing_secret: str | None = None
    # A larger answer fails the call (it is not read further); see SUTRA_WEBHOOK_MAX_BYTES.
    max_bytes: int = 1_000_000


async def perform(
    request: WebhookRequest,
    context: CallContext,
    services: Services,
    settings: WebhookSettings | None = None,
) -> tuple[WebhookOutcome, WebhookLog]:
    settings = settings or WebhookSettings()
    started = time.perf_counter()
    if request.method == "FUNCTION":
        outcome, logged_request, response, usage = await _function(
            request, context, services, settings
        )
    else:
        config = get_settings()
        share = fair_share(
            "webhooks",
            config.webhook_org_concurrency,
            config.webhook_org_burst,
            config.webhook_max_concurrent,
        )
        # One organisation's slow service takes its own share, not everybody's.
        async with slot(share, context.organization_id or 1):
            outcome, logged_request, response = await _http(request, services, settings)
        usage = []
    # Answers come from outside (a service, an LLM) and become results, messages and logs:
    # a NUL or lone surrogate in them cannot be stored and would fail the contact's work.
    outcome = outcome.model_copy(
        update={
            "result": clean_json(outcome.result),
            "json_body": clean_json(outcome.json_body),
            "error": clean_text(outcome.error) if outcome.error else outcome.error,
        }
    )
    response = clean_json(response)
    log = WebhookLog(
        method=request.method,
        # Webhook logs are shown and exported; a flow's ?api_key= must not be.
        url=redact_url(request.url),
        request=redact(logged_request),
        response=redact(response),
        status_code=outcome.status,
        error=outcome.error,
        duration_ms=(time.perf_counter() - started) * 1000,
        result_name=request.result_name,
        usage=usage,
    )
    return outcome, log


def _failure(status: int, reason: str) -> WebhookOutcome:
    return WebhookOutcome(
        status=status, success=False, error=reason, result={"success": False, "error": reason}
    )


async def _function(
    request: WebhookRequest,
    context: CallContext,
    services: Services,
    settings: WebhookSettings,
) -> tuple[WebhookOutcome, dict[str, Any], Any, list[Usage]]:
    name = request.url
    logged: dict[str, Any] = {"function": name, "body": request.body}
    if request.error:
        return _failure(400, request.error), logged, None, []
    if not isinstance(request.body, dict):
        return _failure(400, "body must be a JSON object"), logged, None, []
    spec = get_function(name)
    if spec is None:
        return _failure(404, f"unknown function {name}"), logged, None, []
    fields = {
        **request.body,
        "organization_id": context.organization_id,
        "flow_id": context.flow_uuid,
        "contact_id": context.contact_id,
        "result_name": context.result_name,
    }
    logged["body"] = fields
    call = FunctionCall(fields=fields, services=services)
    try:
        # In this task (wait_for would start another): the call's waits give the contact's
        # CPU turn away (sutra.runtime.working), which only the task holding it can.
        async with asyncio.timeout(settings.function_timeout):
            result = await spec.impl(call)
    except (FunctionError, LLMError) as exc:
        return _failure(exc.status, exc.reason), logged, None, call.usage
    except TimeoutError:
        reason = f"function {name} took longer than {settings.function_timeout:g} s"
        return _failure(504, reason), logged, None, call.usage
    except Exception as exc:
        return _failure(500, f"{name} failed: {exc}"), logged, None, call.usage
    if not isinstance(result, dict):
        return _failure(500, f"{name} returned no map"), logged, result, call.usage
    outcome = WebhookOutcome(status=200, success=True, result=result, json=result)
    return outcome, logged, result, call.usage


async def _http(
    request: WebhookRequest, services: Services, settings: WebhookSettings
) -> tuple[WebhookOutcome, dict[str, Any], Any]:
    headers = dict(request.headers)
    body = request.body if isinstance(request.body, str) else json.dumps(request.body)
    if request.method == "GET":
        body = ""
    if settings.signing_secret:
        headers["X-Glific-Signature"] = sign(settings.signing_secret, body, int(time.time()))
    logged = {"headers": headers, "body": body}
    if not request.url.lower().startswith(("http://", "https://")):
        return _failure(400, f"not an http(s) URL: {redact_url(request.url)}"), logged, None
    client = services.http
    owned = client is None
    if client is None:
        client = guarded_client()
    try:
        # The timeout is for the whole call: httpx's alone bounds each read, and a server
        # trickling a byte a second would hold the contact for ever.
        async with asyncio.timeout(settings.http_timeout):
            answer = await _read(client, request, headers, body, settings)
    except (TimeoutError, httpx.TimeoutException):
        reason = f"no answer within {settings.http_timeout:g} s"
        return _failure(504, reason), logged, None
    except FetchRefused as exc:
        return _failure(403, str(exc)), logged, None
    except httpx.HTTPError as exc:
        return _failure(502, f"request failed: {type(exc).__name__}"), logged, None
    finally:
        if owned:
            await client.aclose()
    status = answer.status
    if answer.cut:
        reason = f"answer larger than {settings.max_bytes:,} bytes"
        return _failure(status, reason), logged, answer.shown(None)
    try:
        payload = jsonparse.loads(answer.data) if answer.data else None
    except (jsonparse.JSONTooDeep, jsonparse.JSONNotStandard) as exc:
        # Too deep would overflow the stack of what reads it next; NaN could not be stored.
        return _failure(status, f"answer {exc}"), logged, answer.shown(None)
    except ValueError:
        payload = None
    shown = answer.shown(payload)
    if not 200 <= status < 300:
        return _failure(status, f"HTTP {status}"), logged, shown
    if payload is None:
        return _failure(status, "response is not JSON"), logged, shown
    if isinstance(payload, list):
        result = {str(i): item for i, item in enumerate(payload)}
    elif isinstance(payload, dict):
        result = payload
    else:
        result = {"value": payload}
    outcome = WebhookOutcome(status=status, success=True, result=result, json=payload)
    return outcome, logged, shown


@dataclass
class _Answer:
    status: int
    data: bytes
    charset: str
    # Set when the answer went on past WebhookSettings.max_bytes and was not read further.
    cut: bool
    # The size the server declared, if any: the log tells how much was not kept.
    declared: int | None

    def shown(self, payload: Any) -> Any:
        """What the webhook log keeps: the answer, or its first LOGGED_BYTES and the cut."""
        if not self.cut and len(self.data) <= LOGGED_BYTES:
            if payload is not None:
                return payload
            return self.data.decode(self.charset, errors="replace")
        head = self.data[:LOGGED_BYTES].decode(self.charset, errors="replace")
        if not self.cut:
            size = f"{len(self.data):,}"
        elif self.declared:
            size = f"{self.declared:,}"
        else:
            size = f"more than {len(self.data):,}"
        return {"body": head, "cut": f"first {LOGGED_BYTES:,} of {size} bytes kept"}


async def _read(
    client: httpx.AsyncClient,
    request: WebhookRequest,
    headers: dict[str, str],
    body: str,
    settings: WebhookSettings,
) -> _Answer:
    """The answer, read as it streams in and no further than ``settings.max_bytes``."""
    async with client.stream(
        request.method,
        request.url,
        headers=headers,
        content=body.encode() if body else None,
        timeout=settings.http_timeout,
    ) as response:
        length = response.headers.get("content-length", "")
        declared = int(length) if length.isdigit() else None
        too_big = declared is not None and declared > settings.max_bytes
        # Announced as too big: only what the log keeps is read.
        keep = LOGGED_BYTES if too_big else settings.max_bytes
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > keep:
                break
        return _Answer(
            status=response.status_code,
            data=bytes(data[: settings.max_bytes]),
            charset=response.charset_encoding or "utf-8",
            cut=too_big or len(data) > settings.max_bytes,
            declared=declared,
        )
