"""The WSGI entry point for gunicorn or waitress-serve: `waitress-serve web.wsgi:app`.

Configuration comes from the environment: every KB_* variable of kb/settings.py
(KB_DATA_DIR, KB_DATABASE_URL, KB_PUBLIC_URL, ...).
"""

from web import create_app

app = create_app()
