"""Researcher logins: the login and logout pages, sessions, CSRF and the login guard.

- A login is a row on the server (kb.sessions): the cookie (Flask's, signed with SECRET_KEY,
  web/secret.py; HttpOnly, SameSite=Lax, Secure unless configured off) carries its random
  token and the CSRF token. A login lasts SESSION_HOURS (8); the next request after that says
  the session has expired. Logging out deletes the row, so a saved copy of the cookie opens
  nothing, even after a restart; removing an account (`kb user remove`) deletes its rows, and
  an account re-created under the same name is a new account that no old cookie opens.
- One guard runs before every view: a POST, PUT, PATCH or DELETE needs a logged-in
  researcher (the login form excepted) and then a CSRF token (Flask-WTF); every page of the
  `admin` blueprint needs a login. So a new route cannot forget either (tests/test_accounts.py
  walks the URL map to make sure).
- Failed logins are limited per client address and per account (LOGIN_RATE_LIMIT, by default
  "5 per 15 minutes"; kb.users.LoginThrottle says how strangers are kept from locking an
  account out); they are counted in the database, so all server processes share them.
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import CSRFProtect

from kb.ratelimit import parse_rate
from kb.sessions import Session
from kb.sessions import Sessions
from kb.users import LoginThrottle
from kb.users import Users
from web.errors import error_response
from web.errors import wants_json
from web.secret import secret_key

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Endpoints that take unsafe methods without a login (their CSRF token is still checked).
PUBLIC_ENDPOINTS = frozenset({"auth.login"})
# JSON endpoints that take a POST but read no cookie and change nothing stored, like the rest of
# the API: no login and no CSRF token (web/packs.py says why that is safe).
COOKIELESS_ENDPOINTS = frozenset({"packs.render"})
# Blueprints whose every page needs a login.
PRIVATE_BLUEPRINTS = frozenset({"admin"})

NOTICES = {
    "required": "Log in to add and manage documents.",
    "expired": "Your session has expired; log in again.",
    "removed": "Your account has been removed; log in with another one.",
    "logged_out": "You have logged out.",
}
_CSRF_REASONS = {
    "The CSRF token is missing.": "was missing",
    "The CSRF session token is missing.": "was not in your session (it may have ended)",
    "The CSRF token has expired.": "had expired",
    "The CSRF token is invalid.": "was not valid",
    "The CSRF tokens do not match.": "did not match your session",
    "The referrer header is missing.": "came without a Referer header",
    "The referrer does not match the host.": "came from another site",
}

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()


def current_user() -> str | None:
    """The logged-in researcher's account name, once the guard has checked the session."""
    return g.get("user")


def init_app(app: Flask) -> None:
    """Sessions, CSRF, the guard, the login throttle and the login/logout pages.

    Config: SECRET_KEY, SESSION_HOURS, SESSION_COOKIE_SECURE (None: on unless TESTING),
    LOGIN_RATE_LIMIT, and Flask-WTF's WTF_CSRF_ENABLED.
    """
    config = app.config
    store = app.extensions["kb"].store
    config["SECRET_KEY"] = config.get("SECRET_KEY") or secret_key(config["SETTINGS"].data_dir)
    hours = float(config["SESSION_HOURS"])
    app.permanent_session_lifetime = timedelta(hours=hours)
    secure = config.get("SESSION_COOKIE_SECURE")
    config["SESSION_COOKIE_SECURE"] = not config["TESTING"] if secure is None else _flag(secure)
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # The guard below checks CSRF itself, after the login check (an expired session is then
    # told so, not given a token error); a form stays valid as long as the login does.
    config["WTF_CSRF_CHECK_DEFAULT"] = False
    config.setdefault("WTF_CSRF_TIME_LIMIT", int(hours * 3600))
    csrf.init_app(app)
    limit = config["LOGIN_RATE_LIMIT"]
    try:
        rate = parse_rate(limit)
    except ValueError:
        message = f"LOGIN_RATE_LIMIT must look like '5 per 15 minutes', not {limit!r}."
        raise ValueError(message) from None
    app.extensions["users"] = Users(store)
    app.extensions["sessions"] = Sessions(store)
    if rate is not None:
        app.extensions["login_throttle"] = LoginThrottle(store, rate.limit, rate.period)
    app.before_request(_guard)
    app.after_request(_no_store)
    app.register_error_handler(CSRFError, _csrf_error)
    app.context_processor(lambda: {"signed_in_as": _signed_in_as()})
    app.register_blueprint(bp)


def _flag(value) -> bool:
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


def _guard() -> Response | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in COOKIELESS_ENDPOINTS:
        return None  # no such route (the 404 or 405 follows), or nothing to guard
    unsafe = request.method in UNSAFE_METHODS
    private = request.blueprint in PRIVATE_BLUEPRINTS
    if private or (unsafe and endpoint not in PUBLIC_ENDPOINTS):
        refusal = _check_login()
        if refusal is not None:
            return refusal
    if unsafe and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    return None


def _check_login() -> Response | None:
    """None when a researcher is logged in (g.user is set), else the refusal to send."""
    if not session.get("sid"):
        return _refuse("required")
    found = _live_session()
    if found is None:
        # Ended (logout, expiry) or its account removed: say which, as far as we can tell.
        name = session.get("user")
        removed = bool(name) and current_app.extensions["users"].get(name) is None
        session.clear()
        return _refuse("removed" if removed else "expired")
    g.user = found.user_name
    return None


def _live_session() -> Session | None:
    """The server-side session the cookie's token opens (looked up once per request)."""
    if "live_session" not in g:
        token = session.get("sid")
        g.live_session = current_app.extensions["sessions"].find(token) if token else None
    return g.live_session


def _signed_in_as() -> str | None:
    """The name shown in the page footer: only for a session that is still live."""
    if g.get("user"):
        return g.user
    if not session.get("sid"):
        return None
    found = _live_session()
    return found.user_name if found else None


def _refuse(reason: str) -> Response:
    """401 JSON for the JSON endpoints; a redirect to the login page for pages."""
    if wants_json():
        return error_response(NOTICES[reason], 401)
    back = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return redirect(url_for("auth.login", reason=reason, next=back), 303)


def _csrf_error(exc: CSRFError) -> Response:
    why = _CSRF_REASONS.get(exc.description, "was not accepted")
    message = (
        f"The form could not be accepted because its security token {why}; "
        f"go back, reload the page and try again."
    )
    return error_response(message, 400)


def _no_store(response: Response) -> Response:
    """Pages for logged-in researchers (and the login form) are never cached."""
    if request.blueprint in PRIVATE_BLUEPRINTS or request.blueprint == "auth":
        response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(value: str | None) -> str | None:
    """A path on this site to go to after logging in; anything else (another site) is None."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    return value if all(ch.isprintable() for ch in value) else None


# -- pages ------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success, back to where the researcher was going (or /admin)."""
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        if session.get("user") and _check_login() is None:
            return redirect(next_path or url_for("admin.index"), 303)
        notice = NOTICES.get(request.args.get("reason", ""))
        return _login_page(next_path, notice=notice)
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    if not name or not password:
        error = "Enter your account name and your password."
        return _login_page(next_path, error=error, name=name, status=400)
    throttle: LoginThrottle | None = current_app.extensions.get("login_throttle")
    # Reserved (as a failure) before the password is checked: see kb.users.LoginThrottle.
    attempt = throttle.attempt(request.remote_addr or "unknown", name) if throttle else None
    if isinstance(attempt, float):
        minutes = max(1, math.ceil(attempt / 60))
        error = (
            f"Too many failed logins from your address or for this account; try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}."
        )
        headers = {"Retry-After": str(math.ceil(attempt))}
        return _login_page(next_path, error=error, name=name, status=429, headers=headers)
    user = current_app.extensions["users"].authenticate(name, password)
    if user is None:
        error = "That account name and password do not match."
        return _login_page(next_path, error=error, name=name, status=401)
    if throttle and attempt is not None:
        throttle.succeeded(attempt)  # the account's failures are forgotten
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    token = current_app.extensions["sessions"].start(user.id, lifetime)
    session.clear()  # a new session: nothing from before the login carries over
    session.permanent = True  # the cookie ends with the login (the server decides, though)
    session["sid"] = token
    session["user"] = user.name  # only to say "removed" rather than "expired" later
    current_app.logger.info("%s logged in from %s", user.name, request.remote_addr)
    return redirect(next_path or url_for("admin.index"), 303)


def _login_page(
    next_path: str | None,
    *,
    notice: str | None = None,
    error: str | None = None,
    name: str = "",
    status: int = 200,
    headers: dict | None = None,
):
    html = render_template("login.html", next_path=next_path, notice=notice, error=error, name=name)
    return html, status, headers or {}


@bp.post("/logout")
def logout():
    """End the session on the server (a saved copy of the cookie opens nothing) and say so."""
    current_app.extensions["sessions"].end(session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login", reason="logged_out"), 303)
