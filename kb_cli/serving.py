"""`kb serve`: the web site and JSON API, with the Flask dev server or waitress."""

from __future__ import annotations

import os
from dataclasses import replace

import click

from kb.settings import Settings
from kb_cli.main import cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--debug", is_flag=True, help="Flask debug mode with reloading (never in public).")
@click.option("--production", is_flag=True, help="Serve with waitress, model loaded first.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--body-timeout",
    type=click.IntRange(1, 3600),
    help="With --production: seconds a connection may stay silent before it is closed "
    "(a slowly sent request body, an idle keep-alive connection).  "
    "[default: 30; env KB_BODY_TIMEOUT]",
)
@click.pass_obj
def serve(
    settings: Settings,
    host: str,
    port: int,
    debug: bool,
    production: bool,
    threads: int,
    body_timeout: int | None,
) -> None:
    """Serve the search site and the JSON API."""
    if debug and production:
        raise click.UsageError("--debug and --production cannot be used together.")
    from kb.memory import return_large_blocks_to_the_system
    from web import create_app

    return_large_blocks_to_the_system()  # before the model loads (kb/memory.py)

    # With the reloader, this process only watches files; the child it starts serves, so only
    # the child pays for loading the model.
    serving_process = not debug or os.environ.get("WERKZEUG_RUN_MAIN") == "true"
    if body_timeout is not None:
        settings = replace(settings, body_timeout=body_timeout)
    if not production and settings.session_cookie_secure is None:
        # The development server speaks plain HTTP, perhaps to another machine on the network.
        settings = replace(settings, session_cookie_secure=False)
    app = create_app({"SETTINGS": settings, "WARM_UP": serving_process})
    if production:
        from web.production import serve as serve_production

        # create_app has loaded the model and index: connections are accepted only now.
        serve_production(
            app,
            host=host,
            port=port,
            threads=threads,
            announce=click.echo,
        )
        return
    app.run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True)
