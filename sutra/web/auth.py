"""Sign-in for the web pages: staff accounts, a signed session cookie, CSRF protection.

* ``GET /login`` shows the form; ``POST /login`` (form fields ``email``, ``password``) checks the
  argon2 hash and sets two cookies: ``sutra_session`` (HttpOnly, signed with the server's secret:
  user id, a digest of the password hash, the CSRF token) and ``csrftoken`` (readable by scripts).
* Every state-changing request from a page must send ``X-CSRFToken`` equal to the session's
  token. The flow editor does so by itself when a ``csrftoken`` cookie exists (its HTTP clients
  follow Django's convention), and Sutra's own pages copy the cookie into the header. Because the
  token also sits inside the signed session, a cookie planted by another site cannot forge it.
* :func:`page_user` guards pages (no session: a redirect to ``/login?next=...``) and
  :func:`api_user` guards the JSON endpoints behind them (no session: 401; a missing or wrong
  CSRF header on POST/PUT/PATCH/DELETE: 403).

The REST API (bearer token) and the channel webhooks do not use any of this: they are called by
programs, not browsers, so no cookie is ever sent to them and CSRF cannot happen there.

The cookie holds no server-side state: signing out deletes it from the browser, and a new
password (``sutra user password``) ends every session signed in with the old one.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sutra.store import users
from sutra.web.state import state_of

log = logging.getLogger(__name__)

SESSION_COOKIE = "sutra_session"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "X-CSRFToken"
# A fortnight: long enough not to interrupt a week of flow building, short enough that a
# forgotten browser does not stay signed in for good.
SESSION_MAX_AGE = 14 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECRET_NAME = "session_key"

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(tags=["sign-in"], include_in_schema=False)


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    email: str
    name: str | None
    csrf: str

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
    signer = await _serializer(request)
    try:
        data = signer.loads(cookie, max_age=SESSION_MAX_AGE)
    except BadSignature:  # also an expired one (SignatureExpired is a subclass)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = await users.get_user(state_of(request).repo.sessions, data["u"])
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(str(data.get("p", "")), users.password_tag(user.password_hash)):
        return None
    return SignedIn(user.id, user.email, user.name, str(data.get("c", "")))


def _full_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def page_user(request: Request) -> SignedIn:
    """For pages: the signed-in user, or a redirect to the sign-in form."""
    user = await current_user(request)
    if user is None:
        raise LoginRequired(_full_path(request))
    return user


async def api_user(request: Request) -> SignedIn:
    """For the JSON endpoints pages call: the user, else 401; CSRF-checked unless read-only."""
    user = await current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first (/login)")
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not user.csrf or not hmac.compare_digest(given.encode(), user.csrf.encode()):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
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
    user = await users.authenticate(state_of(request).repo.sessions, email, password)
    if user is None:
        # The email is logged to spot guessing; the password never is.
        log.warning("sign-in refused for %s", users.normalize_email(email))
        page = _login_page(target, email=email, error="Wrong email or password.")
        return HTMLResponse(page, status_code=401, headers={"Cache-Control": "no-store"})
    csrf = secrets.token_urlsafe(32)
    signer = await _serializer(request)
    cookie = signer.dumps({"u": user.id, "p": users.password_tag(user.password_hash), "c": csrf})
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
async def logout(user: ApiUser) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response
