"""The web app: HTML pages for people and a JSON API for machines, over one KnowledgeBase."""

from __future__ import annotations

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

# The app's own settings (not an operator's: those are kb.settings.Settings, see
# config_from_settings).
DEFAULTS: dict[str, Any] = {
    "TESTING": False,
    # Flask would take DEBUG from FLASK_DEBUG; debug mode comes only from `kb serve --debug`.
    "DEBUG": False,
    # A real question is a sentence or two; the bound keeps embedding and FTS work small.
    "MAX_QUERY_CHARS": 2000,  # as the core (kb.query.MAX_QUERY_CHARS) and the CLI
    "MAX_K": MAX_K,
    "DEFAULT_K": 10,
    # Results in /embed when k is not given (the widget's own default is the same).
    "EMBED_DEFAULT_K": 5,
    # Load the model and index at creation; None means "unless TESTING".
    "WARM_UP": None,
    # The upload pipeline (web/admin.py); None: one over the knowledge base's store and model.
    "INGESTOR": None,
    # Reload the vector index on a background thread as soon as the store changes (kb/reload.py),
    # rather than on the first search after it; None means "unless TESTING".
    "INDEX_RELOAD": None,
}


def config_from_settings(settings: Settings) -> dict[str, Any]:
    """The operator's settings as the config keys the web modules read (Settings documents
    each): framing (web/security.py), the widget's CORS (web/cors.py), the search and login
    rate limits (web/ratelimit.py, web/auth.py), the public address (web/links.py), sessions
    (web/auth.py, web/secret.py)."""
    return {
        "FRAME_ANCESTORS": settings.frame_ancestors,
        "CORS_ORIGINS": settings.cors_origins,
        "EMBED_FRAME_ANCESTORS": settings.embed_frame_ancestors,
        "SEARCH_RATE_LIMIT": settings.search_rate_limit,
        "PUBLIC_URL": settings.public_url,
        "SECRET_KEY": settings.secret_key,
        "SESSION_HOURS": settings.session_hours,
        "SESSION_COOKIE_SECURE": settings.session_cookie_secure,
        "LOGIN_RATE_LIMIT": settings.login_rate_limit,
    }


def create_app(config: dict | None = None, kb: KnowledgeBase | None = None) -> Flask:
    """Build the Flask app.

    Args:
        config: SETTINGS, a kb.settings.Settings (default: Settings.load(), the defaults and
            the KB_* environment), and overrides of DEFAULTS or of config_from_settings's keys
            (tests set a key so; operators set Settings).
        kb: a KnowledgeBase to serve (tests pass one over a small corpus); by default one is
            opened from SETTINGS, once for the process.

    Returns:
        The app, with the KnowledgeBase in `app.extensions["kb"]` (and "users", "jobs",
        "audit", "ingestor", "upload_worker", "myths", "figures").
    """
    app = Flask(__name__)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    config = config or {}
    settings = config.get("SETTINGS") or Settings.load()
    app.config.update(DEFAULTS)
    app.config.update(config_from_settings(settings))
    app.config.update(config)
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
