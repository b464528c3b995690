"""Cross-origin reads of the JSON API, for the search widget on other sites.

Only GET (and HEAD) under /api get CORS headers, for the origins in CORS_ORIGINS ("*", the
default, means any origin; a list or a space- or comma-separated string names them; "" turns CORS
off). A preflight (OPTIONS with Access-Control-Request-Method: GET) is answered 204. Nothing
else ever gets CORS headers: no other method, no page, no static file. No credentials: the API
is public and read-only, so a browser never sends cookies with these requests.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from flask import Response
from flask import request

READ_METHODS = ("GET", "HEAD")
PREFLIGHT_MAX_AGE = "3600"
# Request headers a preflight may ask for (a plain fetch needs none of them).
ALLOWED_HEADERS = "Accept, Accept-Language, Content-Language, Content-Type"
# Headers the widget (or any client) may read beyond the CORS-safelisted ones.
EXPOSED_HEADERS = "Retry-After"


def parse_origins(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The configured origins as a tuple: ("*",), a few origins, or () for none.

    Raises:
        ValueError: an entry is not an origin such as https://branch.example.org.
    """
    if value is None:
        return ()
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    origins = tuple(dict.fromkeys(item.strip().rstrip("/") for item in items if item.strip()))
    if "*" in origins:
        return ("*",)
    for origin in origins:
        scheme, sep, host = origin.partition("://")
        if not sep or scheme not in ("http", "https") or not host or "/" in host:
            raise ValueError(
                f"CORS_ORIGINS entries must be origins like https://branch.example.org, "
                f"not {origin!r}."
            )
    return origins


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def init_app(app: Flask) -> None:
    """Answer preflights and add CORS headers to API reads, as CORS_ORIGINS allows."""
    origins = parse_origins(app.config.get("CORS_ORIGINS", "*"))
    app.config["CORS_ORIGINS"] = origins
    if not origins:
        return
    any_origin = origins == ("*",)

    def allowed_origin() -> str | None:
        """The Access-Control-Allow-Origin value for this request, or None."""
        if any_origin:
            return "*"
        origin = request.headers.get("Origin", "")
        return origin if origin in origins else None

    @app.before_request
    def answer_preflight():
        if request.method != "OPTIONS" or not is_api_path(request.path):
            return None
        if request.url_rule is None:
            return None  # unknown path: the usual 404
        wanted = request.headers.get("Access-Control-Request-Method", "").upper()
        allow = allowed_origin()
        if wanted not in READ_METHODS or allow is None or "Origin" not in request.headers:
            return None  # not a preflight we accept: Flask's plain OPTIONS answer, no CORS
        response = Response(status=204)
        del response.headers["Content-Type"]  # no body
        response.headers["Access-Control-Allow-Origin"] = allow
        response.headers["Access-Control-Allow-Methods"] = ", ".join(READ_METHODS)
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        if not any_origin:
            response.headers["Vary"] = "Origin"
        return response

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        if request.method not in READ_METHODS or not is_api_path(request.path):
            return response
        if not any_origin:
            response.vary.add("Origin")  # the answer depends on the Origin header
        allow = allowed_origin()
        if allow is not None:
            response.headers["Access-Control-Allow-Origin"] = allow
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
