"""Real `memo serve` processes: SIGKILL mid-ingest, a 30 s concurrency soak, a second process refused.

The long runs (100 crash trials, a 5-minute soak) are scripts/crash_test.py and scripts/soak.py.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.crash import run_crash_trials
from bench.harness import LOAD_ENV, ROOT, ServerProcess, request
from bench.soak import run_soak

pytestmark = [pytest.mark.model, pytest.mark.server]


def test_sigkill_during_ingest_loses_no_acknowledged_memo(tmp_path):
    report = run_crash_trials(tmp_path / "data", trials=10, clients=4, seed=6)
    summary = report.summary()
    assert report.ok, [t for t in report.trials if not t.ok]
    assert summary["acknowledged_memos"] > 0 and summary["cut_off_requests"] > 0, summary


def test_concurrency_soak_30s(tmp_path):
    report = run_soak(tmp_path / "data", seconds=30, clients=16, seed=6)
    assert report.server_errors == 0, report.problems
    assert report.lost_writes == 0 and report.resurrected == 0 and not report.problems, report.problems
    assert report.chunks == report.vectors
    assert report.after_restart == {"memos": report.memos, "chunks": report.chunks, "vectors": report.vectors}
    ops = {key.split()[0] for key in report.statuses}
    assert {"ingest", "ask", "brief", "delete", "update"} <= ops, report.statuses


def test_a_second_process_on_the_same_data_dir_is_refused(tmp_path):
    data = tmp_path / "data"
    env = {**LOAD_ENV, "MEMO_SEEDS_DIR": ""}
    with ServerProcess(data, env=env) as first:
        status, memo = first.call("POST", "/memos", {"text": "The first server owns this data dir."})
        assert status == 201
        for argv in (["ask", "who owns the data dir?"], ["serve", "--port", "0"]):
            done = subprocess.run([sys.executable, "-m", "service.cli", *argv], cwd=ROOT, env=first.env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 1, (argv, done.stdout, done.stderr)
            assert f"{data} is in use by pid {first.proc.pid} (memo serve; its worker is pid" in done.stderr, done.stderr
        # the first server is unharmed
        assert first.call("GET", f"/memos/{memo['id']}")[0] == 200
        assert first.call("GET", "/health")[1]["memos"] == 1


def test_tokens_and_rate_limit_from_the_environment_on_a_real_server(tmp_path):
    env = {"MEMO_SEEDS_DIR": "", "MEMO_API_TOKENS": "123456,tok-b", "MEMO_RATELIMIT": "4 per minute", "MEMO_LLM": "none"}
    with ServerProcess(tmp_path / "data", env=env) as server:
        memo = {"text": "A memo posted over real HTTP."}
        status, body, headers = request(server.port, "POST", "/memos", memo)
        assert status == 401 and set(body) == {"error", "detail"} and headers["WWW-Authenticate"].startswith("Bearer")
        auth = {"Authorization": "Bearer 123456"}  # digits: read verbatim, not as a JSON number
        assert request(server.port, "POST", "/memos", memo, headers=auth)[0] == 201
        codes = [request(server.port, "GET", "/memos", headers=auth)[0] for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        status, body, headers = request(server.port, "GET", "/memos", headers=auth)
        assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60 and "4 per 1 minute" in body["detail"]
        other = {"Authorization": "Bearer tok-b"}
        assert request(server.port, "GET", "/memos", headers=other)[0] == 200
        assert all(server.call("GET", "/health")[0] == 200 for _ in range(6))
