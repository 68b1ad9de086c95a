"""Concurrency soak: 16 client threads mixing ingest, update, ask, brief and delete against `memo serve`
for a fixed time; then 0 5xx, 0 lost acknowledged writes and agreeing counts (also after a restart).

    nice -n 10 .venv/bin/python scripts/soak.py --seconds 300 --out bench-results/soak.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from service.soak import run_soak


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
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
