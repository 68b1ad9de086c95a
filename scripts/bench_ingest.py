"""Ingest throughput alone (the ingest rows of `python -m bench`, without its other 40 minutes), with txtai
indexing the same chunk texts in the same run.

The first N memos of `python -m bench` (its BBC, CNN/DM and XQuAD texts under distinct dated headers) go into
a fresh data dir with `memo ingest` (a subprocess, `MEMO_LLM=none`); the rate is the one the command
prints (ingest only, not start-up). With --http M, the first M of them are also posted one at a time to
`memo serve` on another fresh data dir. Both report acknowledged chunks/s (the memos stored and
searchable) and fully indexed chunks/s (their deferred sentence vectors stored too: service.ingest.deferred).
With --peer, txtai (bench/peer.py, fp32 model of the same name) then indexes the chunk texts the `memo
ingest` store holds; --peer-python reuses a venv that `install_peer` made before. --rounds R repeats the
whole, txtai first in every other round, so a machine whose load moves slows both sides alike; the ratios
are then given per round (median, min, max). Prints JSON (and writes
it to --out).

    flock /tmp/heavy.lock .venv/bin/python scripts/bench_ingest.py --memos 1000 --http 200 --peer
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"

from bench import data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    parser.add_argument("--memos", type=int, default=1000, help="memos for memo ingest (the bench's first N)")
    parser.add_argument("--http", type=int, default=0, help="also POST the first M memos to memo serve")
    parser.add_argument("--embedder", default="minilm-q8")
    parser.add_argument("--peer", action="store_true", help="txtai on the same chunk texts, in the same run")
    parser.add_argument("--peer-python", type=Path, help="python of an existing txtai peer venv")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, the order of ours and txtai flipping each "
                        "round (txtai first in odd rounds, on the first round's chunk texts)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from bench.benchmark import stored_chunk_texts
    from bench.served import cli_ingest, post_memos, start_server

    texts = data.memo_texts(data.news_documents(args.eval_dir), args.memos)
    result: dict = {"command": " ".join(sys.argv), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "embedder": args.embedder}
    with tempfile.TemporaryDirectory(prefix="memo-bench-ingest-") as tmp:
        rounds, chunks = [], None
        for k in range(args.rounds):
            ours_first = k % 2 == 0
            one: dict = {"order": "ours, txtai" if ours_first else "txtai, ours"}
            if not ours_first:
                one["txtai"] = _peer(Path(tmp), chunks, args)
            data_dir = Path(tmp) / f"data-{k}"
            one["memo_ingest"] = cli_ingest(data_dir, texts, args.embedder)
            if args.http:
                server, _ = start_server(Path(tmp) / f"data-http-{k}", args.embedder)
                try:
                    one["http_ingest"], _ = post_memos(server, texts[: args.http], 1)
                    one["http_ingest"].pop("per_memo", None)
                finally:
                    server.stop()
            if chunks is None:
                chunks = stored_chunk_texts(data_dir / "memos.sqlite3")
            if args.peer and ours_first:
                one["txtai"] = _peer(Path(tmp), chunks, args)
            if args.peer:
                one["ours_over_txtai_chunks_per_s"] = _ratios(one, bool(args.http))
            rounds.append(one)
        result.update(rounds[0])
        if args.rounds > 1:
            result["rounds"] = rounds
            if args.peer:
                result["ours_over_txtai_per_round"] = {
                    key: {"median": round(statistics.median(r["ours_over_txtai_chunks_per_s"][key] for r in rounds), 2),
                          "min": min(r["ours_over_txtai_chunks_per_s"][key] for r in rounds),
                          "max": max(r["ours_over_txtai_chunks_per_s"][key] for r in rounds)}
                    for key in rounds[0]["ours_over_txtai_chunks_per_s"]}
    data.report(result, args.out)


def _peer(tmp: Path, chunks: list[str], args: argparse.Namespace) -> dict:
    from bench.peer import run_peer

    started = time.perf_counter()
    peer = run_peer(tmp, chunks, data.questions(args.eval_dir)[:20], args.peer_python)
    peer["wall_s"] = round(time.perf_counter() - started, 1)
    return peer


def _ratios(one: dict, http: bool) -> dict:
    ratios = {}
    for run in ("memo_ingest", "http_ingest") if http else ("memo_ingest",):
        ratios[run] = round(one[run]["chunks_per_s"] / one["txtai"]["chunks_per_s"], 2)
        ratios[f"{run}_fully_indexed"] = round(one[run]["fully_indexed_chunks_per_s"] / one["txtai"]["chunks_per_s"], 2)
    return ratios


if __name__ == "__main__":
    main()
