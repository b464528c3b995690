"""The web app: HTML pages for people and a JSON API for machines, over one KnowledgeBase."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from kb.factory import open_knowledge_base
from kb.reload import IndexReloader
from kb.search import MAX_K
from kb.search import KnowledgeBase
from kb.settings import Settings
from web import admin
from web import api
from web import auth
from web import cors
from web import embed
from web import errors
from web import figures
from web import links
from web import myths
from web import openapi
from web import packs
from web import pages
from web import ratelimit
from web import render
from web import security
from web.links import parse_public_url

DEFAULTS: dict[str, Any] = {
    "TESTING": False,
    # Flask would take DEBUG from FLASK_DEBUG; debug mode comes only from `kb serve --debug`.
    "DEBUG": False,
    # A real question is a sentence or two; the bound keeps embedding and FTS work small.
    "MAX_QUERY_CHARS": 2000,  # as the core (kb.query.MAX_QUERY_CHARS) and the CLI
    "MAX_K": MAX_K,
    "DEFAULT_K": 10,
    # Who may frame our pages (CSP frame-ancestors); /embed has its own setting below.
    "FRAME_ANCESTORS": "'self'",
    # The search widget on other sites (docs/widget.md):
    # origins whose pages may read GET /api/* ("*": any; a list or "a b"; "": none),
    "CORS_ORIGINS": "*",
    # who may frame /embed (CSP sources: "*", or "https://branch.example.org ..."),
    "EMBED_FRAME_ANCESTORS": "*",
    # and searches per client address on /api/search, per process ("" or None: no limit).
    "SEARCH_RATE_LIMIT": "60/minute",
    # The site's public address, e.g. "https://evidence.example.org": every absolute link
    # (citations, permalinks, /embed's links) starts with it, never with the request's Host
    # header; "" builds links from the request (fine for a development server). web/links.py.
    "PUBLIC_URL": "",
    # Results in /embed when k is not given (the widget's own default is the same).
    "EMBED_DEFAULT_K": 5,
    # Load the model and index at creation; None means "unless TESTING".
    "WARM_UP": None,
    # Researcher logins (web/auth.py). SECRET_KEY signs the session cookie: by default it is
    # made once and kept in the data folder's `secret_key` (0600), shared by all processes.
    "SECRET_KEY": None,
    # A login lasts this long; then the session has expired and asks for a new login.
    "SESSION_HOURS": 8,
    # The session cookie's Secure flag; None: on, unless TESTING (`kb serve` without
    # --production, the local development server, turns it off).
    "SESSION_COOKIE_SECURE": None,
    # Failed logins allowed per client address and per account, across processes.
    "LOGIN_RATE_LIMIT": "5 per 15 minutes",
    # The upload pipeline (web/admin.py); None: one over the knowledge base's store and model.
    "INGESTOR": None,
    # Reload the vector index on a background thread as soon as the store changes (kb/reload.py),
    # rather than on the first search after it; None means "unless TESTING".
    "INDEX_RELOAD": None,
}


def create_app(config: dict | None = None, kb: KnowledgeBase | None = None) -> Flask:
    """Build the Flask app.

    Args:
        config: overrides of DEFAULTS and of the KB_* variables in ENV_CONFIG; SETTINGS is a
            kb.settings.Settings (default: from the environment, see Settings.from_env).
        kb: a KnowledgeBase to serve (tests pass one over a small corpus); by default one is
            opened from SETTINGS, once for the process.

    Returns:
        The app, with the KnowledgeBase in `app.extensions["kb"]` (and "users", "jobs",
        "audit", "ingestor", "upload_worker", "myths", "figures").
    """
    app = Flask(__name__)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config.update(DEFAULTS)
    app.config.update(config_from_env(os.environ))
    app.config.update(config or {})
    settings = app.config.get("SETTINGS") or Settings.from_env()
    app.config["SETTINGS"] = settings
    app.config["MAX_K"] = min(int(app.config["MAX_K"]), MAX_K)  # the core's own bound
    app.config["PUBLIC_URL"] = parse_public_url(app.config["PUBLIC_URL"])
    app.extensions["kb"] = kb if kb is not None else open_knowledge_base(settings)
    warm_up = app.config["WARM_UP"]
    if warm_up or (warm_up is None and not app.config["TESTING"]):
        # Pay for the model and the index now, not on the first person's search.
        app.extensions["kb"].warm_up()
    reload = app.config["INDEX_RELOAD"]
    if reload or (reload is None and not app.config["TESTING"]):
        app.extensions["reloader"] = IndexReloader(app.extensions["kb"]).start()
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(embed.bp)
    app.register_blueprint(packs.bp)  # /pack, /api/packs/render, documents' references
    auth.init_app(app)  # sessions, CSRF and the login guard; /login and /logout
    admin.init_app(app)  # the ingestor, jobs, audit log and upload worker; /admin pages
    myths.init_app(app)  # app.extensions["myths"] and the /myths pages and API
    figures.init_app(app)  # app.extensions["figures"] and the /figures pages and API
    errors.init_app(app)
    cors.init_app(app)
    ratelimit.init_app(app)
    security.init_app(app)
    render.init_app(app)
    links.init_app(app)
    openapi.init_app(app)  # in tests: every /api answer checked against its description
    return app


# Settings an operator of `kb serve` may give in the environment (config passed in still wins).
ENV_CONFIG = {
    "KB_FRAME_ANCESTORS": "FRAME_ANCESTORS",
    "KB_CORS_ORIGINS": "CORS_ORIGINS",
    "KB_EMBED_FRAME_ANCESTORS": "EMBED_FRAME_ANCESTORS",
    "KB_SEARCH_RATE_LIMIT": "SEARCH_RATE_LIMIT",
    "KB_SECRET_KEY": "SECRET_KEY",
    "KB_SESSION_HOURS": "SESSION_HOURS",
    "KB_SESSION_COOKIE_SECURE": "SESSION_COOKIE_SECURE",
    "KB_LOGIN_RATE_LIMIT": "LOGIN_RATE_LIMIT",
    "KB_PUBLIC_URL": "PUBLIC_URL",
}


def config_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The config keys of ENV_CONFIG that are set in the environment."""
    return {key: environ[name] for name, key in ENV_CONFIG.items() if name in environ}
