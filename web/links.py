"""Absolute links to this site (citations, permalinks, the widget's and /embed's links).

With PUBLIC_URL (KB_PUBLIC_URL) set, every absolute link starts with it and the request's Host
header is never used: a forged Host cannot put another site's address into a citation that a
person copies, or into a page a cache keeps. Without it, links are built from the request, as
a development server needs (README, "Deploying", says to set it in production).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask import current_app
from flask import request
from flask import url_for


def parse_public_url(value: str | None) -> str:
    """The configured public base URL without a trailing slash ("" when not set).

    Raises:
        ValueError: not an http(s) address with a host, or it carries a query or fragment.
    """
    text = (value or "").strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"PUBLIC_URL (KB_PUBLIC_URL) must be the site's address, like "
            f"https://evidence.example.org, not {value!r}."
        )
    return text.rstrip("/")


def site_root() -> str:
    """The site's absolute root with a trailing slash (what request.url_root would give)."""
    return absolute_url("/")


def absolute_url(path: str) -> str:
    """An absolute link to a path within the site ("/documents/x#p3", as kb's permalinks are):
    PUBLIC_URL + path, else the request's root (its host and mount point) + path."""
    base = current_app.config.get("PUBLIC_URL") or request.url_root.rstrip("/")
    return base + path


def absolute_url_for(endpoint: str, **values) -> str:
    """url_for as an absolute link that follows the same rule as absolute_url."""
    path = url_for(endpoint, **values)
    root = request.script_root
    return absolute_url(path[len(root) :] if root and path.startswith(root) else path)


def init_app(app: Flask) -> None:
    """Templates build absolute links with `absolute_url_for(endpoint, ...)` too."""
    app.add_template_global(absolute_url_for, "absolute_url_for")
