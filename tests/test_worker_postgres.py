"""PostgreSQL unreachable: once a server has found the database server gone, every request
fails at once with StoreUnavailable (a 503, not a wait for the connection pool's timeout),
and works again, without a restart, as soon as the server is back."""

from __future__ import annotations

import time

import pytest

from kb.errors import StoreUnavailable

pytestmark = pytest.mark.postgres
postgres = pytest.importorskip("kb.store.postgres")


def test_an_unreachable_server_fails_at_once_and_is_used_again_when_back(
    postgres_database, monkeypatch
):
    store = postgres.PostgresStore(postgres_database)
    try:
        generation = store.generation()
        reachable = store.url
        store.url = "postgresql://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1
        store._probe()  # as after a failed statement: the server is not there

        def no_pool_wait(*args, **kwargs):
            raise AssertionError("waited for the pool while the server was known to be down")

        monkeypatch.setattr(store._pool, "connection", no_pool_wait)
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            store.generation()
        monkeypatch.undo()

        store.url = reachable  # the server is back
        time.sleep(postgres.UNREACHABLE_RETRY_SECONDS)  # the next request probes it again
        assert store.generation() == generation
    finally:
        store.close()
