"""The production server (`kb serve --production`): waitress, with bounds on request bodies.

waitress reads a request's whole body (into memory or a temporary file) before the app runs,
so the app's own limits (MAX_CONTENT_LENGTH, the login check) come too late to save the
reading. Here, as soon as a request's headers are in:

- a body larger than the upload limit (KB_MAX_UPLOAD_BYTES plus room for the form) is refused
  with a 413 and one sentence, before a byte of it is read (waitress's max_request_body_size,
  with our sentence instead of its own page);
- so is a body larger than the form allowance (1 MiB) sent anywhere but the upload routes
  (/admin/upload and /admin/documents/<id>/replace), e.g. to /login without an account;
- a connection that sends nothing for `body_timeout` seconds while its request is unfinished
  is closed (waitress's channel_timeout, checked every few seconds).

A slowly sent body holds a connection (waitress allows 100), never a worker thread: waitress
hands a request to a thread only once its body is complete (docs/reliability.md measures it).
"""

from __future__ import annotations

import re

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import create_server
from waitress.utilities import RequestEntityTooLarge

from ingest.limits import human_size
from kb.settings import Settings
from web.uploads import FORM_ALLOWANCE_BYTES
from web.uploads import max_request_bytes

# The routes that take a file; every other route takes at most FORM_ALLOWANCE_BYTES.
UPLOAD_PATHS = re.compile(r"^/admin/(upload|documents/[^/]+/replace)/?$")


class TooLarge(RequestEntityTooLarge):
    """waitress's 413, answered with one sentence instead of its own page."""

    def to_response(self, ident=None):
        body = (self.body + "\n").encode("utf-8")
        return f"{self.code} {self.reason}", [("Content-Type", "text/plain; charset=utf-8")], body


def _parser_class(upload_limit: int) -> type[HTTPRequestParser]:
    upload_message = (
        f"The upload is larger than the {human_size(upload_limit)} limit for one file; "
        f"nothing was read."
    )
    form_message = (
        f"The request is larger than the {human_size(FORM_ALLOWANCE_BYTES)} this address "
        f"accepts; nothing was read."
    )

    class LimitedParser(HTTPRequestParser):
        """waitress's parser, refusing oversized bodies as soon as the headers are in."""

        def received(self, data: bytes) -> int:
            consumed = super().received(data)
            if not self.headers_finished or isinstance(self.error, TooLarge):
                return consumed
            # Declared (Content-Length), or received so far (a chunked body declares nothing).
            size = max(self.content_length, self.body_bytes_received)
            if size > FORM_ALLOWANCE_BYTES and not UPLOAD_PATHS.match(self.path or ""):
                self.error, self.completed = TooLarge(form_message), True
            elif isinstance(self.error, RequestEntityTooLarge):
                self.error = TooLarge(upload_message)
            return consumed

    return LimitedParser


def serve(
    app: Flask,
    *,
    host: str,
    port: int,
    threads: int,
    announce=print,
) -> None:
    """Serve the app with waitress until stopped.

    Args:
        app: the app from web.create_app. Its SETTINGS give the upload limit and
            body_timeout: the seconds of silence after which an unfinished request's connection
            is closed (also idle keep-alive connections).
        host, port, threads: where to listen, and waitress's worker threads.
        announce: called with the line saying where it listens.
    """
    settings: Settings = app.config["SETTINGS"]
    limit = max_request_bytes(settings.max_upload_bytes)
    body_timeout = settings.body_timeout
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=limit,
        channel_timeout=body_timeout,
        # How often silent connections are looked for: a few times per timeout.
        cleanup_interval=max(1, min(30, body_timeout // 3)),
    )
    parser = _parser_class(settings.max_upload_bytes)
    server.channel_class = type("LimitedChannel", (HTTPChannel,), {"parser_class": parser})
    announce(f"Serving on http://{host}:{port} with waitress ({threads} threads).")
    server.run()
