"""Concurrency soak: 16 client threads mixing ingest, update, ask, brief and delete against `memo serve`
for a fixed time; then 0 5xx, 0 lost acknowledged writes and agreeing counts (also after a restart).

    nice -n 10 .venv/bin/python scripts/soak.py --seconds 300 --out bench-results/soak.json
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is a top-level dev package, not installed

from bench.harness import write_report  # noqa: E402
from bench.soak import run_soak  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_soak(Path(tmp) / "data", seconds=args.seconds, clients=args.clients, seed=args.seed,
                          log=lambda line: print(line, file=sys.stderr))
    result = {"command": "scripts/soak.py " + " ".join(sys.argv[1:]), **dataclasses.asdict(report),
              "requests_per_s": round(report.requests / report.seconds, 1), "ok": report.ok}
    write_report(result, args.out, report.ok)


if __name__ == "__main__":
    main()
