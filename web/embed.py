"""The search for other sites: /widget.js (a script) and /embed (a page for an iframe).

Both are documented in docs/widget.md. /embed works without JavaScript: a GET form and
server-rendered results whose links open the passage on this site in a new tab. Which sites may
frame it is set by EMBED_FRAME_ANCESTORS (web.security); the widget's reads of /api are allowed
by CORS_ORIGINS (web.cors).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint
from flask import current_app
from flask import render_template
from flask import request
from flask import send_file
from werkzeug.datastructures import MultiDict

from kb.errors import QueryError
from kb.matching import MATCH_NOTICES
from kb.models import Hit
from kb.models import Span
from web.extensions import current_kb
from web.links import absolute_url
from web.links import absolute_url_for
from web.params import parse_search

bp = Blueprint("embed", __name__)

WIDGET_PATH = Path(__file__).resolve().parent / "static" / "widget.js"
WIDGET_MAX_AGE = 3600  # an hour: a new release reaches branch sites the same day
THEMES = ("light", "dark", "auto")
DEFAULT_LABEL = "Search the evidence"
MAX_OPTION_CHARS = 100
EXCERPT_CHARS = 240


@bp.get("/widget.js")
def widget():
    """The embeddable widget script, loadable by any site."""
    response = send_file(
        WIDGET_PATH, mimetype="application/javascript", max_age=WIDGET_MAX_AGE, conditional=True
    )
    response.headers["Content-Type"] = "application/javascript; charset=utf-8"
    # Other sites load it with <script src>; without this a CORP-isolated page could refuse it.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/embed")
def embed():
    """GET /embed?q=&k=&kind=&tag=&theme=&placeholder=&label=: the search as a framable page."""
    config = current_app.config
    options = embed_options(request.args)
    context = {"q": request.args.get("q", "").strip()[: config["MAX_QUERY_CHARS"]], "error": None}
    results: list[dict] = []
    status = 200
    try:
        wanted = parse_search(
            request.args,
            max_chars=config["MAX_QUERY_CHARS"],
            max_k=config["MAX_K"],
            default_k=config["EMBED_DEFAULT_K"],
            require_query=False,
        )
        if wanted.query:
            found = current_kb().find(
                wanted.query, k=wanted.k, filters=wanted.filters, mode=wanted.mode
            )
            results = [_result(hit) for hit in found.hits]
            context["match"] = found.match
            context["match_notice"] = MATCH_NOTICES.get(found.match)
    except QueryError as exc:
        status = 400
        context["error"] = str(exc)
    more_url = absolute_url_for(
        "pages.search",
        q=context["q"],
        kind=request.args.getlist("kind"),
        tag=request.args.getlist("tag"),
    )
    return (
        render_template(
            "embed.html",
            results=results,
            more_url=more_url,
            home_url=absolute_url_for("pages.search"),
            hidden_fields=_hidden_fields(request.args, options),
            max_chars=config["MAX_QUERY_CHARS"],
            **options,
            **context,
        ),
        status,
    )


def embed_options(args: MultiDict) -> dict:
    """The look of /embed: theme (light, dark or auto), placeholder and label, all bounded."""
    theme = args.get("theme", "light")
    return {
        "theme": theme if theme in THEMES else "light",
        "placeholder": args.get("placeholder", "").strip()[:MAX_OPTION_CHARS],
        "label": args.get("label", "").strip()[:MAX_OPTION_CHARS] or DEFAULT_LABEL,
    }


def _hidden_fields(args: MultiDict, options: dict) -> list[tuple[str, str]]:
    """The options to keep when the form is sent again (everything but q), as given."""
    fields = [
        (name, value[:MAX_OPTION_CHARS])
        for name in ("k", "kind", "tag", "doc", "mode", "year_from", "year_to")
        for value in args.getlist(name)[:50]
        if value.strip()
    ]
    if options["theme"] != "light":
        fields.append(("theme", options["theme"]))
    if options["label"] != DEFAULT_LABEL:
        fields.append(("label", options["label"]))
    if options["placeholder"]:
        fields.append(("placeholder", options["placeholder"]))
    return fields


def best_sentence(text: str, spans: tuple[Span, ...] | list[Span]) -> dict:
    """The best sentence of a passage (or its opening) with the matched terms inside it.

    Returns:
        {"text": the excerpt, "spans": term spans with offsets into it, "before": True when text
        precedes it in the passage, "after": True when text follows it}.
    """
    size = len(text)
    sentence = next((s for s in spans if s.kind == "sentence" and s.end > s.start), None)
    if sentence is not None:
        start, end = max(0, min(size, sentence.start)), max(0, min(size, sentence.end))
    else:
        start, end = 0, min(size, EXCERPT_CHARS)
        if end < size:
            space = text.rfind(" ", 0, end)
            end = space if space > EXCERPT_CHARS // 2 else end
    terms = [
        Span(max(start, s.start) - start, min(end, s.end) - start, "term")
        for s in spans
        if s.kind != "sentence" and max(start, s.start) < min(end, s.end)
    ]
    return {"text": text[start:end], "spans": terms, "before": start > 0, "after": end < size}


def _result(hit: Hit) -> dict:
    return {
        "hit": hit,
        "excerpt": best_sentence(hit.passage.text, hit.highlights),
        "url": absolute_url(hit.url),
    }
