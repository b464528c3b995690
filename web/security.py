"""Security headers on every response.

The Content-Security-Policy allows scripts and styles only from our own static files (no inline
scripts, no inline styles), so injected markup could not run even if escaping ever failed.
A view may set its own policy first (the original-file route does); it is then left alone.

Framing: every page may be framed only as FRAME_ANCESTORS allows ("'self'" by default), except
the embeddable search page (/embed), which other sites frame as EMBED_FRAME_ANCESTORS allows
("*", any site, by default).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from flask import Response
from flask import request

EMBED_PATHS = frozenset({"/embed"})
# Pages that show search results are never stored by a browser or a shared cache: a search can
# be sensitive (what a rep is preparing), the results change whenever the library does, and a
# search costs a few milliseconds to run again. It also leaves nothing for a cache to keep
# should a link in it ever come from a forged Host header (PUBLIC_URL closes that; web/links).
NO_STORE_ENDPOINTS = frozenset({"pages.search", "embed.embed"})


def content_security_policy(frame_ancestors: str = "'self'") -> str:
    """The policy for our HTML pages and API responses.

    Args:
        frame_ancestors: who may frame our pages; "'self'" by default, widened in config
            (FRAME_ANCESTORS, or EMBED_FRAME_ANCESTORS for /embed).
    """
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def source_list(value: str | Iterable[str] | None, name: str, default: str) -> str:
    """A configured CSP source list ("*", "'self' https://a.example", or a list) as one string.

    Raises:
        ValueError: the value would break out of the directive (a ';', ',' or a line break).
    """
    if value is None:
        return default
    text = value if isinstance(value, str) else " ".join(value)
    text = " ".join(text.split())
    if any(bad in text for bad in (";", ",")) or not text:
        raise ValueError(f"{name} must be CSP sources separated by spaces, not {value!r}.")
    return text


def init_app(app: Flask) -> None:
    """Add the headers to every response the app sends."""
    frame_ancestors = source_list(app.config.get("FRAME_ANCESTORS"), "FRAME_ANCESTORS", "'self'")
    embed_ancestors = source_list(
        app.config.get("EMBED_FRAME_ANCESTORS"), "EMBED_FRAME_ANCESTORS", "*"
    )
    policy = content_security_policy(frame_ancestors)
    embed_policy = content_security_policy(embed_ancestors)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        embeddable = request.path in EMBED_PATHS
        ancestors = embed_ancestors if embeddable else frame_ancestors
        headers.setdefault("Content-Security-Policy", embed_policy if embeddable else policy)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        # For browsers that predate CSP frame-ancestors.
        if ancestors == "'self'":
            headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.endpoint in NO_STORE_ENDPOINTS:
            headers["Cache-Control"] = "no-store"
        return response
