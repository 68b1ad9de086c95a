"""Where an extractive ``/ask`` spends its time: N bench memos (as ``memo bench`` builds them) in a data dir
kept for re-runs, then 200 XQuAD questions through the Flask test client under cProfile (20 warm-up first).

    MEMO_LLM=none .venv/bin/python scripts/profile_ask.py --memos 1000 --data /tmp/ask-1k
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service import create_app  # noqa: E402
from service.bench_data import memo_texts, news_documents, questions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memos", type=int, default=1000)
    parser.add_argument("--data", type=Path, required=True, help="data dir (filled on the first run, then reused)")
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    app = create_app({"DATA_DIR": str(args.data), "LLM": "none", "SEEDS_DIR": None, "RATELIMIT": "off"})
    engine = app.extensions["memo"]
    marker = args.data / f".profile-ingested-{args.memos}"
    if not marker.exists():
        texts = memo_texts(news_documents(args.eval_dir), args.memos)
        started = time.perf_counter()
        engine.ingest_many([(text, {}) for text in texts])
        marker.write_text("done")
        print(f"ingested {args.memos} memos in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    client = app.test_client()
    asked = questions(args.eval_dir)[:220]
    for q in asked[:20]:
        client.post("/ask", json={"question": q})
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for q in asked[20:]:
        assert client.post("/ask", json={"question": q}).status_code == 200
    profile.disable()
    print(f"/ask in process, 1 client: {(time.perf_counter() - started) / 200 * 1000:.2f} ms per question (under cProfile)")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    engine.close()


if __name__ == "__main__":
    main()
