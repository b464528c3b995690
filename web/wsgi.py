"""The WSGI entry point for gunicorn or waitress-serve: `waitress-serve web.wsgi:app`.

Configuration comes from the environment: every KB_* variable of kb/settings.py
(KB_DATA_DIR, KB_DATABASE_URL, KB_PUBLIC_URL, ...).
"""

from kb.memory import return_large_blocks_to_the_system
from web import create_app

return_large_blocks_to_the_system()  # before the model loads (kb/memory.py)
app = create_app()
