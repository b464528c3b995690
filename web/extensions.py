"""Access to what `create_app` stored on the app, for views in any blueprint."""

from __future__ import annotations

from flask import current_app

from kb.search import KnowledgeBase
from kb.settings import Settings


def current_kb() -> KnowledgeBase:
    """The process-wide KnowledgeBase built (or given) at app creation."""
    return current_app.extensions["kb"]


def current_settings() -> Settings:
    """The Settings the app was created with (paths of the data folder)."""
    return current_app.config["SETTINGS"]
