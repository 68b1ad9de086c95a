"""Crash test: SIGKILL `memo serve` (its whole process group) at random moments during a multi-threaded
ingest, restart it on the same data dir, and check every acknowledged memo and chunks == vectors.

    nice -n 10 .venv/bin/python scripts/crash_test.py --trials 100 --out bench-results/crash.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from service.crashtest import run_crash_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4, help="ingest threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_crash_trials(Path(tmp) / "data", trials=args.trials, clients=args.clients, seed=args.seed,
                                  log=lambda line: print(line, file=sys.stderr))
    summary = {"command": "scripts/crash_test.py " + " ".join(sys.argv[1:]), **report.summary(),
               "seconds": round(time.perf_counter() - t0, 1), "ok": report.ok}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
