"""Real `memo serve` processes: SIGKILL mid-ingest, a 30 s concurrency soak, a second process refused.

The long runs (100 crash trials, a 5-minute soak) are scripts/crash_test.py and scripts/soak.py.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from service.crashtest import run_crash_trials
from service.harness import LOAD_ENV, ROOT, ServerProcess
from service.soak import run_soak

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
            assert f"{data} is in use by pid" in done.stderr, done.stderr
        # the first server is unharmed
        assert first.call("GET", f"/memos/{memo['id']}")[0] == 200
        assert first.call("GET", "/health")[1]["memos"] == 1
