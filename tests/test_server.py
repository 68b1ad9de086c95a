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


def test_memo_ingest_sends_files_through_a_running_server(tmp_path, monkeypatch):
    """``memo ingest --server``: the files go through POST /memos/batch of the server that holds the data dir
    (a plain ``memo ingest`` would be refused by its lock); a file that cannot be stored fails alone."""
    import subprocess
    import sys

    monkeypatch.delenv("MEMO_SEEDS_DIR", raising=False)
    folder = tmp_path / "memos"
    folder.mkdir()
    for i, topic in enumerate(["grain exports", "port repairs", "fuel prices"]):
        (folder / f"memo-{i}.md").write_text(f"# Note {i}\n\n3 May 2024. The ministry reported on {topic}. "
                                             f"Officials expect changes within {i + 2} weeks.\n")
    (folder / "blank.txt").write_text("  \n")
    with ServerProcess(tmp_path / "data") as server:
        before = server.call("GET", "/health")[1]["memos"]
        done = subprocess.run([sys.executable, "-m", "service.cli", "ingest", "--server", f"http://127.0.0.1:{server.port}",
                               "--batch", "2", "--tag", "weekly", str(folder)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr  # the blank file failed
        assert "3 indexed, 1 failed, 4 files" in done.stdout and "blank.txt" in done.stderr
        health = server.call("GET", "/health")[1]
        assert health["memos"] == before + 3 and health["chunks"] == health["vectors"]
        listed = server.call("GET", "/memos?tag=weekly")[1]
        assert listed["total"] == 3
