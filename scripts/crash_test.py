"""Crash test: SIGKILL `memo serve` (its whole process group) at random moments during a multi-threaded
ingest, restart it on the same data dir, and check every acknowledged memo and chunks == vectors.

    nice -n 10 .venv/bin/python scripts/crash_test.py --trials 100 --out bench-results/crash.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is a top-level dev package, not installed

from bench.crash import run_crash_trials  # noqa: E402
from bench.harness import write_report  # noqa: E402


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
    write_report(summary, args.out, report.ok)


if __name__ == "__main__":
    main()
