"""Benchmark phases against the served app and the CLI: ingest throughput, /ask and brief latency, RSS."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from bench.data import latency, timed_calls
from bench.harness import LOAD_ENV, ROOT, ServerProcess


def server_env(embedder: str) -> dict[str, str]:
    """The served app as the bench runs it: extractive tier, rate limit off, no seeds."""
    return {**LOAD_ENV, "MEMO_LLM": "none", "MEMO_EMBEDDER": embedder, "MEMO_SEEDS_DIR": ""}


def _ok(server: ServerProcess, method: str, path: str, body: dict | None = None) -> dict:
    status, answer = server.call(method, path, body)
    if status not in (200, 201):
        raise RuntimeError(f"{method} {path}: {status} {answer}")
    return answer


def start_server(data_dir: Path, embedder: str) -> tuple[ServerProcess, float]:
    """``memo serve`` on ``data_dir``; returns it and its start-up time (to ``/health`` 200) in seconds."""
    started = time.perf_counter()
    server = ServerProcess(data_dir, env=server_env(embedder)).start(timeout=1800)
    return server, time.perf_counter() - started


def wait_for_lexical_index(server: ServerProcess, timeout: float = 600) -> float:
    """Seconds until ``/health`` says the in-memory BM25 is filled (it fills in the background after
    start-up, while FTS5 answers): /ask timings must not mix the two."""
    started = time.perf_counter()
    while _ok(server, "GET", "/health")["lexical_index"] != "ready":
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the lexical index was not ready within {timeout} s")
        time.sleep(0.1)
    return time.perf_counter() - started


def post_memos(server: ServerProcess, texts: Sequence[str], clients: int) -> tuple[dict, list[str]]:
    """POST every text to /memos; throughput and the new memos' ids."""
    before = _ok(server, "GET", "/health")["chunks"]
    ids: list[str] = []
    started = time.perf_counter()
    durations, wall = timed_calls(lambda text: ids.append(_ok(server, "POST", "/memos", {"text": text})["id"]),
                                  texts, clients)
    chunks = _ok(server, "GET", "/health")["chunks"] - before
    # Acknowledged above; fully indexed once the server's filler has stored every deferred sentence vector
    # and read every deferred memo's entities.
    while any(_ok(server, "GET", "/health").get(k) for k in ("sentences_pending", "entities_pending")):
        time.sleep(0.2)
    indexed = time.perf_counter() - started
    return {"memos": len(texts), "chunks": chunks, "clients": clients, "seconds": round(wall, 2),
            "memos_per_s": round(len(texts) / wall, 2), "chunks_per_s": round(chunks / wall, 1),
            "fully_indexed_s": round(indexed, 2), "fully_indexed_chunks_per_s": round(chunks / indexed, 1),
            "per_memo": latency(durations)}, ids


def time_asks(server: ServerProcess, questions: Sequence[str], clients: int) -> dict:
    """Extractive /ask latency with ``clients`` concurrent clients, and how many answers abstained."""
    abstained = []

    def ask(question: str) -> None:
        abstained.append(_ok(server, "POST", "/ask", {"question": question})["abstained"])

    durations, wall = timed_calls(ask, questions, clients)
    return {"clients": clients, **latency(durations), "requests_per_s": round(len(questions) / wall, 1),
            "abstained": round(sum(abstained) / len(abstained), 3)}


def time_briefs(server: ServerProcess, memo_ids: Sequence[str], clients: int) -> dict:
    """Each memo's brief twice: the first request computes it (uncached), the second reads the cache."""
    first, _ = timed_calls(lambda i: _ok(server, "GET", f"/memos/{i}/brief"), memo_ids, 1)
    cached_1, _ = timed_calls(lambda i: _ok(server, "GET", f"/memos/{i}/brief"), memo_ids, 1)
    cached_n, _ = timed_calls(lambda i: _ok(server, "GET", f"/memos/{i}/brief"), list(memo_ids) * 2, clients)
    return {"uncached": latency(first), "cached_1_client": latency(cached_1),
            f"cached_{clients}_clients": latency(cached_n)}


def memo_ids(server: ServerProcess, count: int) -> list[str]:
    """Up to ``count`` stored memo ids, newest date first."""
    ids: list[str] = []
    while len(ids) < count:
        page = _ok(server, "GET", f"/memos?limit=100&offset={len(ids)}")
        ids.extend(m["id"] for m in page["items"])
        if not page["items"]:
            break
    return ids[:count]


def serve_and_measure(data_dir: Path, embedder: str, questions_1: Sequence[str], questions_n: Sequence[str],
                      clients: int, briefs: int, new_texts: Sequence[str] = (), ingest_clients: int = 1,
                      warm_up: Sequence[str] = ("warm-up question about the harbour",)) -> dict:
    """Start the server on ``data_dir``, POST ``new_texts``, ask the ``warm_up`` questions, then time /ask
    (1 and ``clients`` clients) and briefs of ``briefs`` memos (none: no brief pass); stop it. Peak RSS
    covers the whole run."""
    server, startup = start_server(data_dir, embedder)
    try:
        out: dict = {"startup_s": round(startup, 2)}
        if new_texts:
            out["ingest_http"], _ = post_memos(server, new_texts, ingest_clients)
        out["lexical_index_wait_s"] = round(wait_for_lexical_index(server), 2)
        out["health"] = _ok(server, "GET", "/health")
        for question in warm_up:
            _ok(server, "POST", "/ask", {"question": question})
        out["ask_1_client"] = time_asks(server, questions_1, 1)
        out[f"ask_{clients}_clients"] = time_asks(server, questions_n, clients)
        if briefs:
            out["brief"] = time_briefs(server, memo_ids(server, briefs), clients)
        out["server_peak_rss_mb"] = server.peak_rss_mb()
        return out
    finally:
        server.stop()


_INGEST_LINE = re.compile(r"(\d+) added.*?(\d+) chunks in ([\d.]+) s")
_INDEXED_LINE = re.compile(r"fully indexed in ([\d.]+) s")


def cli_ingest(data_dir: Path, texts: Sequence[str], embedder: str) -> dict:
    """``memo ingest`` of ``texts`` written as files into a folder; the rate is what the command reports
    (ingest only), the wall time includes its start-up."""
    folder = data_dir.parent / f"ingest-{len(texts)}"
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"memo-{i:06d}.txt").write_text(text, encoding="utf-8")
    env = {**os.environ, **server_env(embedder), "MEMO_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "service.cli", "ingest", str(folder)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    found = _INGEST_LINE.search(done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"memo ingest failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-2000:]}")
    added, chunks, seconds = int(found.group(1)), int(found.group(2)), float(found.group(3))
    # The first rate is acknowledged ingest; with deferred sentence vectors or entities a second line says
    # when they were all stored too (fully indexed), else the two are the same.
    indexed = _INDEXED_LINE.search(done.stdout)
    indexed_s = float(indexed.group(1)) if indexed else seconds
    return {"memos": added, "chunks": chunks, "seconds": seconds, "wall_s_with_startup": round(wall, 2),
            "memos_per_s": round(added / seconds, 2), "chunks_per_s": round(chunks / seconds, 1),
            "fully_indexed_s": indexed_s, "fully_indexed_chunks_per_s": round(chunks / indexed_s, 1)}
