"""``memo serve`` as a user runs it: gunicorn on 127.0.0.1, seeds on first start, data kept across restarts."""
from __future__ import annotations

import pytest

from bench.harness import ServerProcess

pytestmark = [pytest.mark.model, pytest.mark.server]


def test_serve_seeds_answers_and_keeps_data_across_restarts(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMO_SEEDS_DIR", raising=False)
    data = tmp_path / "data"
    with ServerProcess(data) as server:
        status, health = server.call("GET", "/health")
        assert health["memos"] == 1 and health["chunks"] == health["vectors"] > 0
        status, body = server.call("POST", "/ask", {"question": "When did Russia intervene militarily in Syria?"})
        assert status == 200 and "2015" in body["answer"]
        status, memo = server.call("POST", "/memos", {"text": "A new memo about ports. Ships docked at dawn."})
        assert status == 201
        status, err = server.call("POST", "/ask", {"question": ""})
        assert status == 422 and set(err) == {"error", "detail"}
    with ServerProcess(data) as server:
        status, health2 = server.call("GET", "/health")
        assert health2["memos"] == 2 and health2["chunks"] == health2["vectors"] == health["chunks"] + 1
        assert server.call("GET", f"/memos/{memo['id']}")[1]["text"] == memo["text"]
