"""One error handler for the whole app: JSON under /api, an HTML page elsewhere.

No response ever carries a traceback. Errors a person caused (bad parameters, unknown ids) are
4xx with a sentence naming what to fix; only our own bugs are 500, and those are logged.
"""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

from ingest.limits import human_size
from kb.errors import KBError
from kb.errors import NotFound
from kb.errors import QueryError
from kb.errors import StoreError
from kb.errors import StoreUnavailable

TITLES = {
    400: "Bad request",
    401: "Log in needed",
    404: "Not found",
    405: "Method not allowed",
    409: "Already there",
    413: "Too large",
    415: "Unsupported file",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


# Paths whose clients expect JSON whatever went wrong: the API, the upload progress that the
# admin pages poll, and the details read from a file for the upload form (web/admin.py).
JSON_PREFIXES = ("/api/", "/admin/jobs/", "/admin/upload/details")


def wants_json() -> bool:
    """True for the API's paths and the admin JSON endpoints, and for an admin page asked for
    JSON (the upload page's script posts each file so, web/static/upload.js)."""
    if request.path == "/api" or request.path.startswith(JSON_PREFIXES):
        return True
    return request.path.startswith("/admin/") and asks_for_json()


def asks_for_json() -> bool:
    """The request prefers JSON to HTML (a script's Accept: application/json)."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


def error_response(message: str, status: int, headers: dict | None = None) -> Response:
    """The error as `{"error", "status"}` JSON under /api, or as the HTML error page.

    Args:
        message: one sentence for a person.
        status: the HTTP status.
        headers: extra headers (Allow for a 405).
    """
    if wants_json():
        response = jsonify({"error": message, "status": status})
    else:
        title = TITLES.get(status, "Error")
        html = render_template("error.html", title=title, message=message, status=status)
        response = Response(html, mimetype="text/html")
    response.status_code = status
    response.headers.update(headers or {})
    return response


# While the database server cannot be reached: one sentence, and when to try again.
UNAVAILABLE = (
    "The knowledge base's database cannot be reached right now, so nothing was done; "
    "try again in a minute."
)
RETRY_AFTER_SECONDS = 5
# The driver's errors for an unreachable server, should one reach us untranslated (a store
# normally raises StoreUnavailable): psycopg's OperationalError (connection refused, closed,
# "the database system is starting up") and psycopg_pool's PoolTimeout (no connection came).
_UNREACHABLE = {("psycopg", "OperationalError"), ("psycopg_pool", "PoolTimeout")}


def database_unreachable(exc: BaseException) -> bool:
    """Whether an error says the database server cannot be reached right now."""
    if isinstance(exc, StoreUnavailable):
        return True
    return any(
        (cls.__module__.split(".")[0], cls.__name__) in _UNREACHABLE for cls in type(exc).__mro__
    )


def unavailable_response() -> Response:
    return error_response(UNAVAILABLE, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def kb_error_status(exc: KBError) -> int:
    """The HTTP status for one of our own errors."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, StoreError):
        return 503
    return 400


def _http_error(exc: HTTPException):
    if exc.code is None or exc.code < 400:
        return exc  # redirects raised by routing pass through untouched
    headers = {}
    message = exc.description or TITLES.get(exc.code, "Error")
    if exc.code == 404:
        message = f"There is nothing at {request.path}."
    elif exc.code == 413:
        message = _too_large_message()
    elif exc.code == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        headers["Allow"] = ", ".join(allowed)
        usable = [m for m in allowed if m not in ("HEAD", "OPTIONS")] or allowed
        message = f"{request.method} is not allowed on {request.path}; use {' or '.join(usable)}."
    return error_response(message, exc.code, headers)


def _too_large_message() -> str:
    settings = current_app.config.get("SETTINGS")
    limit = getattr(settings, "max_upload_bytes", None)
    if not limit:
        return "The request is larger than this site accepts."
    return f"The upload is larger than the {human_size(limit)} limit for one file."


def _kb_error(exc: KBError):
    if isinstance(exc, StoreUnavailable):
        return unavailable_response()
    return error_response(str(exc), kb_error_status(exc))


def _query_error(exc: QueryError):
    return error_response(str(exc), 400)


def _unexpected(exc: Exception):
    if database_unreachable(exc):
        current_app.logger.warning("Database unreachable on %s: %s", request.path, exc)
        return unavailable_response()
    # A bug of ours: log it in full, tell the person only that it is not their fault.
    current_app.logger.exception("Unhandled error on %s", request.path)
    return error_response("Something went wrong on our side; please try again later.", 500)


def init_app(app: Flask) -> None:
    """Register the handlers on the app (not a blueprint, so unknown paths are covered too)."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(QueryError, _query_error)
    app.register_error_handler(KBError, _kb_error)
    app.register_error_handler(Exception, _unexpected)
