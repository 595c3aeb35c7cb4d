"""Sign-in for the web pages: staff accounts, server-side sessions, CSRF protection.

* ``GET /login`` shows the form; ``POST /login`` (form fields ``email``, ``password``) checks the
  argon2 hash, starts a session (a ``web_sessions`` row) and sets two cookies: ``sutra_session``
  (HttpOnly: the session's random token, signed with the server's secret) and ``csrftoken``
  (readable by scripts).
* Failed sign-ins are throttled per account and per client address (:mod:`sutra.store.throttle`):
  past the limit, ``POST /login`` answers 429 with ``Retry-After`` and does not check the
  password at all until the lock ends.
* Every state-changing request from a page must send ``X-CSRFToken`` equal to the session's
  token. The flow editor does so by itself when a ``csrftoken`` cookie exists (its HTTP clients
  follow Django's convention), and Sutra's own pages copy the cookie into the header. Because the
  token also sits inside the signed session, a cookie planted by another site cannot forge it.
* :func:`page_user` guards pages (no session: a redirect to ``/login?next=...``) and
  :func:`api_user` guards the JSON endpoints behind them (no session: 401; a missing or wrong
  CSRF header on POST/PUT/PATCH/DELETE: 403).

The REST API (bearer token) and the channel webhooks do not use any of this: they are called by
programs, not browsers, so no cookie is ever sent to them and CSRF cannot happen there.

The session lives in the database, so it ends for good, on every process, when the user signs
out, is disabled (``sutra user disable``) or gets a new password (``sutra user password``); a
copied cookie dies with it. The signature only spares the database a look-up for a forged one,
and lets a new ``SUTRA_SECRET_KEY`` sign everybody out.
"""

from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sutra.orgs import store as org_store
from sutra.store import models as m
from sutra.store import throttle, users
from sutra.web.state import app_state, state_of

log = logging.getLogger(__name__)

SESSION_COOKIE = "sutra_session"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "X-CSRFToken"
SESSION_MAX_AGE = int(users.SESSION_LIFETIME.total_seconds())
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECRET_NAME = "session_key"
# What a viewer may still post: signing out and choosing another organisation.
VIEWER_MAY_POST = frozenset({"/logout", "/orgs/switch"})

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(tags=["sign-in"], include_in_schema=False)


def now() -> datetime:
    """The clock of sign-in throttling (a function, so tests can move it on)."""
    return m.utcnow()


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    email: str
    name: str | None
    csrf: str
    session_id: int
    # The organisation this browser works in, the user's role there, and every organisation
    # the user may switch to (id, name, role).
    organization_id: int = 1
    role: str = "admin"
    places: tuple[tuple[int, str, str], ...] = ()
    # May manage every organisation of the install (the /organisations page).
    platform: bool = False

    @property
    def can_change(self) -> bool:
        return self.role != "viewer"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def organization_name(self) -> str:
        return next((n for i, n, _ in self.places if i == self.organization_id), "")

    @property
    def display_name(self) -> str:
        return self.name or self.email


class LoginRequired(Exception):
    """Raised by :func:`page_user`; answered with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def render(name: str, **context: Any) -> str:
    return TEMPLATES.get_template(name).render(**context)


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


def install(app: FastAPI) -> None:
    """Add the sign-in pages and the redirect for pages; a no-op when already there."""
    if LoginRequired in app.exception_handlers:
        return
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)


# --- the signing key ---------------------------------------------------------------------------


async def _serializer(request: Request) -> URLSafeTimedSerializer:
    """The app's cookie signer, made on first use (the database is only open once running)."""
    holder = request.app.state
    found: URLSafeTimedSerializer | None = getattr(holder, "sutra_session_signer", None)
    if found is None:
        state = state_of(request)
        configured = state.settings.sutra_secret_key
        if configured is not None and configured.get_secret_value():
            key = configured.get_secret_value()
        else:
            key = await users.server_secret(state.repo.sessions, SECRET_NAME)
        found = holder.sutra_session_signer = URLSafeTimedSerializer(key, salt="sutra.session")
    return found


# --- who is signed in --------------------------------------------------------------------------


async def current_user(request: Request) -> SignedIn | None:
    """The signed-in user of this request, or None; looked up once per request."""
    if hasattr(request.state, "sutra_user"):
        cached: SignedIn | None = request.state.sutra_user
        return cached
    request.state.sutra_user = found = await _verify(request)
    return found


async def _verify(request: Request) -> SignedIn | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    token = await _token(request, cookie)
    if token is None:
        return None
    sessions = state_of(request).repo.sessions
    live = await users.session_user(sessions, token)
    if live is None:
        return None
    places = await org_store.memberships(sessions, live.user_id)
    if not places:
        return None  # in no active organisation: nothing to see
    here = next((p for p in places if p.organization_id == live.organization_id), places[0])
    role = here.role
    if role == org_store.PLATFORM_ROLE:
        # Acting where not a member: allowed to the platform administrator, and on the record.
        log.info(
            "platform administrator %s: %s %s in organisation %d",
            live.email,
            request.method,
            request.url.path,
            here.organization_id,
        )
        role = "admin"
    return SignedIn(
        live.user_id,
        live.email,
        live.name,
        live.csrf,
        live.id,
        organization_id=here.organization_id,
        role=role,
        places=tuple((p.organization_id, p.name, p.role) for p in places),
        platform=live.is_platform_admin,
    )


async def _token(request: Request, cookie: str) -> str | None:
    """The session token a cookie carries, if this server signed it."""
    signer = await _serializer(request)
    try:
        data = signer.loads(cookie, max_age=SESSION_MAX_AGE)
    except BadSignature:  # also an expired one (SignatureExpired is a subclass)
        return None
    # Cookies from before server-side sessions were a dict: they are simply not sessions.
    return data if isinstance(data, str) and data else None


def _full_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def page_user(request: Request) -> SignedIn:
    """For pages: the signed-in user, or a redirect to the sign-in form."""
    user = await current_user(request)
    if user is None:
        raise LoginRequired(_full_path(request))
    await app_state(request)  # from here on, state_of(request) is the user's organisation's
    return user


def check_csrf(request: Request, user: SignedIn) -> None:
    given = request.headers.get(CSRF_HEADER, "")
    if not user.csrf or not hmac.compare_digest(given.encode(), user.csrf.encode()):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")


async def api_user(request: Request) -> SignedIn:
    """For the JSON endpoints pages call: the user, else 401; CSRF-checked unless read-only."""
    user = await current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first (/login)")
    if request.method not in SAFE_METHODS:
        check_csrf(request, user)
        if not user.can_change and request.url.path not in VIEWER_MAY_POST:
            raise HTTPException(403, "a viewer cannot change anything in this organisation")
    await app_state(request)
    return user


PageUser = Annotated[SignedIn, Depends(page_user)]
ApiUser = Annotated[SignedIn, Depends(api_user)]


# --- the pages ---------------------------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect).

    >>> safe_next("/flows/1/edit?x=1"), safe_next("https://evil.example/"), safe_next("//evil")
    ('/flows/1/edit?x=1', '/flows', '/flows')
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/flows"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/flows"
    return value


def _login_page(next_path: str, *, email: str = "", error: str | None = None) -> str:
    return render("login.html", next=next_path, email=email, error=error, user=None)


def wait_message(seconds: int) -> str:
    """What a locked-out person reads, in whole minutes (rounded up).

    >>> wait_message(60), wait_message(61), wait_message(3600)
    ('try again in 1 minute', 'try again in 2 minutes', 'try again in 60 minutes')
    """
    minutes = max(1, math.ceil(seconds / 60))
    return f"try again in {minutes} minute{'s' if minutes != 1 else ''}"


def _too_many(target: str, email: str, seconds: int, *, wrong: bool) -> Response:
    said = "Wrong email or password. " if wrong else ""
    error = f"{said}Too many attempts, {wait_message(seconds)}."
    page = _login_page(target, email=email, error=error)
    headers = {"Cache-Control": "no-store", "Retry-After": str(seconds)}
    return HTMLResponse(page, status_code=429, headers=headers)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    target = safe_next(next)
    if await current_user(request) is not None:
        return RedirectResponse(target, status_code=303)
    return HTMLResponse(_login_page(target), headers={"Cache-Control": "no-store"})


def _same_origin(request: Request) -> bool:
    """Whether a browser's form post comes from this site (when the browser says where from).

    Stops another site from signing a visitor in to an attacker's account (login CSRF); programs
    that send no Origin header are let through, as they carry no victim's cookies anyway.
    """
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    # Behind a reverse proxy the Host header may name the upstream; the proxy's own header
    # keeps the address the browser used.
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    return urlsplit(origin).netloc in hosts - {""}


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    target = safe_next(next)
    if not _same_origin(request):
        raise HTTPException(403, "sign-in from another site refused")
    sessions = state_of(request).repo.sessions
    address = request.client.host if request.client else None
    # Unknown emails count too, so that being locked out does not tell which accounts exist.
    account = throttle.Key(users.account_key(email), throttle.ACCOUNT_LIMIT)
    keys = [account, throttle.address_key(address)]
    # The email is logged to spot guessing; the password never is.
    shown = users.normalize_email(email)
    wait = await throttle.locked(sessions, keys, now())
    if wait is not None:
        log.warning("sign-in locked out for %s from %s (%d s left)", shown, address, wait)
        return _too_many(target, email, wait, wrong=False)
    user = await users.authenticate(sessions, email, password)
    if user is not None and not await org_store.memberships(sessions, user.id):
        log.warning("sign-in refused for %s: in no active organisation", shown)
        page = _login_page(target, email=email, error="This account is in no organisation.")
        return HTMLResponse(page, status_code=403, headers={"Cache-Control": "no-store"})
    if user is None:
        log.warning("sign-in refused for %s from %s", shown, address)
        wait = await throttle.failed(sessions, keys, now())
        if wait is not None:
            log.warning("sign-in locked for %d s: %s from %s", wait, shown, address)
            return _too_many(target, email, wait, wrong=True)
        page = _login_page(target, email=email, error="Wrong email or password.")
        return HTMLResponse(page, status_code=401, headers={"Cache-Control": "no-store"})
    await throttle.forget(sessions, account)
    token, csrf = await users.start_session(sessions, user.id)
    signer = await _serializer(request)
    cookie = signer.dumps(token)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    # Readable by scripts on purpose: the pages and the editor copy it into X-CSRFToken.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=SESSION_MAX_AGE, httponly=False, samesite="lax", secure=secure
    )
    log.info("signed in: %s", user.email)
    return response


@router.post("/logout")
async def logout(request: Request, user: ApiUser) -> Response:
    token = await _token(request, request.cookies.get(SESSION_COOKIE, ""))
    if token is not None:
        await users.end_session(state_of(request).repo.sessions, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response
