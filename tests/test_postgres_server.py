"""The throwaway PostgreSQL server that `make test` starts (scripts/pg-throwaway)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.postgres


def test_the_server_answers(postgres_server):
    import psycopg

    with psycopg.connect(postgres_server, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
    assert int(version) >= 150000


def test_run_gives_the_command_a_server_and_removes_it_after(postgres_server):
    """`pg-throwaway run` starts its own cluster, hands its address to the command, passes the
    command's exit status on and leaves no folder behind."""
    script = ROOT / "scripts" / "pg-throwaway"
    probe = (
        "import os, psycopg, sys; url = os.environ['KB_TEST_DATABASE_URL'];"
        " psycopg.connect(url, connect_timeout=10).execute('SELECT 1');"
        " print(os.environ['PG_THROWAWAY_DIR']); sys.exit(7)"
    )
    env = {key: value for key, value in os.environ.items() if key != "KB_TEST_DATABASE_URL"}
    done = subprocess.run(
        [str(script), "run", "--", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 7, done.stderr
    folder = done.stdout.strip()
    assert "pg-throwaway" in folder
    assert not os.path.exists(folder)
