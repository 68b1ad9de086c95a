"""The benchmark (bench/): its helpers on known inputs, and `python -m bench --quick` end to end as CI's smoke test (no
timing is asserted: speed is reported by the benchmark, never tested)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bench.data import latency, memo_texts, percentile, timed_calls
from bench.vectors import NOISE, noisy_copies, recall_at_k
from service.ingest.parse import content_hash, normalise_text
from tests.conftest import ROOT

EVAL = ROOT.parent / "shared" / "eval"


def test_percentiles_and_latency_summary():
    assert percentile([3, 1, 2], 50) == 2 and percentile([5], 99) == 5
    assert percentile(list(range(101)), 95) == 95
    assert latency([0.001, 0.002, 0.003]) == {"n": 3, "p50_ms": 2.0, "p95_ms": 3.0, "p99_ms": 3.0, "mean_ms": 2.0}


def test_timed_calls_runs_every_item_with_the_given_concurrency():
    seen = []
    durations, wall = timed_calls(seen.append, list(range(20)), 4)
    assert sorted(seen) == list(range(20)) and len(durations) == 20 and wall >= 0


def test_repeated_documents_become_distinct_dated_memos():
    texts = memo_texts(["Alpha report. It rained.", "Beta report."], 5)
    assert len({content_hash(normalise_text(t)) for t in texts}) == 5
    assert texts[0].startswith("1 Jan 2015; MEMO: Bulletin 1.") and texts[2].endswith("Alpha report. It rained.")


def test_noisy_copies_keep_the_originals_and_stay_close_to_them():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(50, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    copies = noisy_copies(base, 500)
    assert copies.shape == (500, 384) and np.allclose(np.linalg.norm(copies, axis=1), 1, atol=1e-5)
    assert np.allclose(copies[:50], base, atol=1e-6)
    cosines = (copies[50:] * base[np.arange(50, 500) % 50]).sum(axis=1)
    expected = 1 / np.sqrt(1 + NOISE**2)
    assert abs(float(cosines.mean()) - expected) < 0.02


def test_recall_at_k_counts_shared_ids():
    exact = np.array([list(range(10)), list(range(10, 20))])
    found = np.array([list(range(10)), list(range(15, 25))])
    assert recall_at_k(found, exact) == 0.75


@pytest.mark.server
@pytest.mark.model
def test_bench_quick_runs_end_to_end(tmp_path):
    if not EVAL.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"python -m bench needs the dev data in {EVAL}")
        pytest.skip(f"no dev data at {EVAL}")
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["embedders"]) == {"minilm", "minilm-int8", "minilm-q8"}
    assert result["embedders"]["minilm-int8"]["cosine_to_minilm"]["min"] > 0.99
    assert result["embedders"]["minilm-q8"]["cosine_to_minilm"]["min"] > 0.97
    small, large = result["served"]["30"], result["served"]["60"]
    assert small["ingest_http"]["memos"] == 30 and large["health"]["memos"] == 60
    assert large["health"]["chunks"] == large["health"]["vectors"] > small["health"]["chunks"]
    assert result["ingest_cli"][0]["memos"] == 30
    for served in (small, large):
        assert served["ask_1_client"]["n"] == 15 and served["ask_8_clients"]["n"] == 30
        assert served["brief"]["uncached"]["n"] == 10 and served["server_peak_rss_mb"] > 0
    size = result["vectors"]["sizes"][0]
    assert size["vectors"] == 20_000 and size["flat"]["recall_at_10"] == 1.0
    assert 0 < size["ivf"]["by_nprobe"]["64"]["recall_at_10"] <= 1 and "hnsw32" in size
    assert "peer" not in result
    assert "/ask, 8 client(s)" in done.stdout and "whole run" in done.stdout
