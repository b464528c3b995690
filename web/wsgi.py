"""The WSGI entry point for gunicorn or waitress-serve: `waitress-serve web.wsgi:app`.

Configuration comes from the environment (KB_DATA_DIR, KB_CORPUS_DIR, KB_EMBEDDER).
"""

from web import create_app

app = create_app()
