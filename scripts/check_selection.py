"""What BM25 word selection (``RetrievalSettings.lexical_max_share``) does at scale, and whether the
in-memory BM25 (``service/storage/embedded/bm25.py``) ranks as SQLite FTS5 does. Every XQuAD dev question asked of a large
store once with every word in the BM25 query and once per share tried, in the same process. Per setting:
how often a gold answer is inside the k retrieved chunks and inside the /ask answer, how often it
abstains, and the search time. The store is one that
``scripts/bench_ask.py`` filled (the bench memos, whose XQuAD paragraphs hold the answers, each many times
over at 10,000 memos).

With ``--parity``, also each question's BM25 top 50 (every word) from FTS5 and from the in-memory copy:
how many lists agree in order, the largest score difference, and the time of each.

    MEMO_LLM=none .venv/bin/python scripts/check_selection.py --data /tmp/ask/10k --parity
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.storage.embedded.bm25 import query_terms# noqa: E402
from service.config import load_config  # noqa: E402
from service.evaluation.datasets import read_qa# noqa: E402
from service.engine import Engine, build_engine# noqa: E402
from service.evaluation.metrics import contains_answer# noqa: E402
from service.retrieval.hybrid import query_words, selective_words# noqa: E402
from service.types import MemoFilter# noqa: E402


def measure(engine: Engine, items: list, share: float | None, k: int) -> dict:
    engine.settings = replace(engine.settings, retrieval=replace(engine.settings.retrieval, lexical_max_share=share))
    in_chunks = contained = abstained = 0
    search_s: list[float] = []
    for item in items:
        started = time.perf_counter()
        hits = engine.search(item.question, k)
        search_s.append(time.perf_counter() - started)
        texts = {h.memo_id: engine.storage.memos.text(h.memo_id) or "" for h in hits}
        in_chunks += any(contains_answer(texts[h.memo_id][h.start : h.end], item.answers) for h in hits)
        result, _ = engine.ask(item.question, k)
        abstained += result.abstained
        contained += bool(result.answer) and contains_answer(result.answer, item.answers)
    n = len(items)
    search_s.sort()
    return {"lexical_max_share": share, "n": n, f"answer_in_top{k}_chunks": round(in_chunks / n, 4),
            "answer_contained": round(contained / n, 4), "abstained": round(abstained / n, 4),
            "search_ms_p50": round(search_s[n // 2] * 1000, 2),
            "search_ms_mean": round(sum(search_s) / n * 1000, 2)}


def parity(engine: Engine, items: list, depth: int = 50) -> dict:
    """FTS5's and the in-memory BM25's top ``depth`` for every question's words (questions with a word
    FTS5 reads as a phrase, like ``o'neill``, always go to FTS5 and are left out)."""
    fts, chunks, where = engine.storage.fts, engine.storage.chunks, MemoFilter()
    assert fts.wait(600)
    same = compared = 0
    largest = fts_s = ours_s = 0.0
    for question in dict.fromkeys(i.question for i in items):
        words = list(dict.fromkeys(query_words(question)))
        if not words or query_terms(words) is None:
            continue
        started = time.perf_counter()
        exact = fts.fts_search(words, depth, None)
        middle = time.perf_counter()
        ours = chunks.lexical(words, depth, where)
        fts_s, ours_s = fts_s + middle - started, ours_s + time.perf_counter() - middle
        compared += 1
        same += [i for i, _ in exact] == [i for i, _ in ours]
        scores = dict(exact)
        largest = max([largest, *(abs(s - scores[i]) for i, s in ours if i in scores)])
    return {"questions": compared, "same_top50_order": same, "largest_score_difference": round(largest, 4),
            "fts5_ms_mean": round(fts_s / compared * 1000, 2), "in_memory_ms_mean": round(ours_s / compared * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a data dir filled by scripts/bench_ask.py")
    parser.add_argument("--qa", type=Path, default=ROOT.parent / "shared" / "eval" / "qa_xquad_dev.jsonl")
    parser.add_argument("--embedder", default="minilm-q8")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--shares", type=float, nargs="*", help="other lexical_max_share values to try too")
    parser.add_argument("--parity", action="store_true", help="also compare FTS5's BM25 with the in-memory one")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    items = read_qa(args.qa)[: args.limit]
    engine = build_engine(load_config({"DATA_DIR": str(args.data), "LLM": "none", "EMBEDDER": args.embedder,
                                       "SEEDS_DIR": None}))
    try:
        served = engine.settings.retrieval.lexical_max_share
        changed = sum(
            len(selective_words(query_words(i.question), engine.storage.chunks, served)) < len(query_words(i.question))
            for i in items
        )
        total = engine.health()["chunks"]
        assert engine.storage.fts.wait(600)  # searches time the in-memory BM25, never FTS5 standing in
        for item in items[:20]:  # warm the caches both settings share
            engine.ask(item.question, args.k)
        rows = [measure(engine, items, share, args.k) for share in (None, served, *(args.shares or ()))]
        report = {"data": str(args.data), "chunks": total, "questions_with_words_left_out": changed,
                  "settings": rows}
        if args.parity:
            report["bm25_parity"] = parity(engine, items)
    finally:
        engine.close()
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
