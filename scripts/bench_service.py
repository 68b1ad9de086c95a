"""Benchmark the served app over real HTTP: ingest throughput, /ask and brief latency, server RSS.

Starts `memo serve` (gunicorn, as users run it) on a fresh data dir, ingests the seeds plus N news
articles from ../shared/eval over POST /memos, then times /ask with questions from the XQuAD dev set
and the cached and uncached brief. Prints a table and writes JSON (--out).

    .venv/bin/python scripts/bench_service.py --memos 300 --questions 200 --out bench-results/service.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.harness import LOAD_ENV, ROOT, ServerProcess

EVAL = ROOT.parent / "shared" / "eval"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def latency(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1), "mean_ms": round(sum(ms) / len(ms), 1)}


def load_articles(n: int) -> list[str]:
    docs: list[str] = []
    for name in ("summ_bbc_dev.jsonl", "summ_cnndm_dev.jsonl"):
        with open(EVAL / name, encoding="utf-8") as f:
            docs.extend(json.loads(line)["document"] for line in f)
    return docs[:n]


def load_questions(n: int) -> list[str]:
    with open(EVAL / "qa_xquad_dev.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f][:n]


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memos", type=int, default=300)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for the second /ask pass")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"needs the dev data in {EVAL}")

    articles, questions = load_articles(args.memos), load_questions(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with ServerProcess(Path(tmp) / "data", env=LOAD_ENV) as server:
            startup_s = time.perf_counter() - t0
            t = time.perf_counter()
            ids = []
            for text in articles:
                status, memo = server.call("POST", "/memos", {"text": text})
                assert status in (200, 201), memo
                ids.append(memo["id"])
            ingest_s = time.perf_counter() - t
            health = server.call("GET", "/health")[1]

            def ask(q: str) -> float:
                return timed(server.call, "POST", "/ask", {"question": q})[0]

            ask_1 = [ask(q) for q in questions]
            with ThreadPoolExecutor(args.clients) as pool:
                ask_n = list(pool.map(ask, questions))
            uncached = [timed(server.call, "GET", f"/memos/{i}/brief")[0] for i in ids[:50]]
            cached = [timed(server.call, "GET", f"/memos/{i}/brief")[0] for i in ids[:50]]
            rss = server.peak_rss_mb()

    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": "scripts/bench_service.py " + " ".join(sys.argv[1:]),
        "startup_s": round(startup_s, 1),
        "memos": health["memos"], "chunks": health["chunks"],
        "ingest_http": {"memos": len(articles), "seconds": round(ingest_s, 2),
                        "memos_per_s": round(len(articles) / ingest_s, 1),
                        "chunks_per_s": round((health["chunks"]) / ingest_s, 1)},
        "ask_1_client": latency(ask_1),
        f"ask_{args.clients}_clients": latency(ask_n),
        "brief_uncached": latency(uncached),
        "brief_cached": latency(cached),
        "server_peak_rss_mb": rss,
    }
    print(f"{'measure':32} value")
    print(f"{'memos / chunks':32} {result['memos']} / {result['chunks']}")
    print(f"{'startup (model load + seeds)':32} {result['startup_s']} s")
    print(f"{'ingest over HTTP':32} {result['ingest_http']['memos_per_s']} memos/s, "
          f"{result['ingest_http']['chunks_per_s']} chunks/s")
    for key in ("ask_1_client", f"ask_{args.clients}_clients", "brief_uncached", "brief_cached"):
        r = result[key]
        print(f"{key:32} p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms (n={r['n']})")
    print(f"{'server peak RSS':32} {rss} MB")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
