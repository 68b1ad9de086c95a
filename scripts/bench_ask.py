"""``/ask`` alone, on a data dir kept between runs: N bench memos (as ``python -m bench`` builds them, added with
``memo ingest`` on the first run), then the bench's XQuAD questions. By default over real HTTP against
``memo serve`` (gunicorn, as ``python -m bench`` serves it) with 1 and 8 clients; with ``--profile``, 200 of them
through the Flask test client in this process under cProfile (where the time goes). For trying changes to
the /ask path quickly; ``python -m bench`` stays the full measurement.

    MEMO_LLM=none .venv/bin/python scripts/bench_ask.py --memos 10000 --data /tmp/ask/10k
    MEMO_LLM=none .venv/bin/python scripts/bench_ask.py --memos 1000 --data /tmp/ask/1k --profile
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data import memo_texts, news_documents, questions  # noqa: E402
from bench.served import cli_ingest, serve_and_measure  # noqa: E402


def over_http(data: Path, embedder: str, q1: list[str], qn: list[str], clients: int) -> dict:
    return serve_and_measure(data, embedder, q1, qn, clients, briefs=0, warm_up=q1[:20])


def profiled(data: Path, embedder: str, asked: list[str], top: int) -> None:
    from service import create_app

    app = create_app({"DATA_DIR": str(data), "LLM": "none", "EMBEDDER": embedder, "SEEDS_DIR": None,
                      "RATELIMIT": "off"})
    client = app.test_client()
    app.extensions["memo"].storage.fts.wait()  # time the in-memory BM25, not FTS5 standing in
    for q in asked[:20]:
        client.post("/ask", json={"question": q})
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for q in asked[20:220]:
        assert client.post("/ask", json={"question": q}).status_code == 200
    profile.disable()
    per = (time.perf_counter() - started) / len(asked[20:220]) * 1000
    print(f"/ask in process, 1 client: {per:.2f} ms per question (under cProfile)")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(top)
    app.extensions["memo"].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memos", type=int, default=1000)
    parser.add_argument("--data", type=Path, required=True, help="data dir (filled on the first run, then reused)")
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--questions", type=int, default=200, help="per one-client pass; 8 clients ask twice as many")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--embedder", default="minilm-q8")
    parser.add_argument("--profile", action="store_true", help="in process under cProfile instead of over HTTP")
    parser.add_argument("--top", type=int, default=40, help="--profile: functions to list")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    marker = args.data.parent / f".{args.data.name}-ingested-{args.memos}"
    if not marker.exists():
        texts = memo_texts(news_documents(args.eval_dir), args.memos)
        print(json.dumps(cli_ingest(args.data, texts, args.embedder)), file=sys.stderr)
        marker.write_text("done")
    asked = questions(args.eval_dir)
    if args.profile:
        profiled(args.data, args.embedder, asked, args.top)
        return
    result = {"memos": args.memos, **over_http(args.data, args.embedder, asked[: args.questions],
                                                 asked[args.questions: 3 * args.questions], args.clients)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
