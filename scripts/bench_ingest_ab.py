"""Ingest A/B in one process: two engine configurations take turns on the same memos, batch by batch.

Each configuration has an engine on a data dir of its own (real models, ``MEMO_LLM=none``); the first N
memos of ``python -m bench`` go through ``Intake.ingest_many`` in batches of ``--batch`` (16, as ``memo
ingest``), A then B on one batch, B then A on the next, so a machine that slows down mid-run slows both. A
configuration is config overrides as KEY=VALUE (the ``service.config`` keys, without ``MEMO_``). Then each
engine fills its deferred entities and sentence vectors (timed), the same questions are asked of both, and
each memo's entities are compared: answers and entities must be the same for a change that claims to keep
them. Prints JSON: acknowledged and fully indexed chunks/s per configuration, the A/B ratio per batch
(median, min, max), and how many answers and memos' entities differ.

    .venv/bin/python scripts/bench_ingest_ab.py --memos 200 --a DEFER_SENTENCES=false --b DEFER_SENTENCES=true
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"

from bench import data  # noqa: E402


def overrides(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    parser.add_argument("--memos", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--a", nargs="*", default=[], help="KEY=VALUE config overrides of A")
    parser.add_argument("--b", nargs="*", default=[], help="KEY=VALUE config overrides of B")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from service.config import load_config
    from service.engine import build_engine
    from service.types import MemoFilter

    texts = data.memo_texts(data.news_documents(args.eval_dir), args.memos)
    questions = data.questions(args.eval_dir)[: args.questions]
    configs = {"a": overrides(args.a), "b": overrides(args.b)}
    result: dict = {"command": " ".join(sys.argv), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "configs": configs}
    with tempfile.TemporaryDirectory(prefix="memo-bench-ab-") as tmp:
        engines = {name: build_engine(load_config({"DATA_DIR": str(Path(tmp) / name), "LLM": "none",
                                                    "SEEDS_DIR": "", "BRIEF_WORKER": False,
                                                    "SENTENCE_FILLER": False, **extra}))
                   for name, extra in configs.items()}
        try:
            seconds = {name: 0.0 for name in engines}
            ratios = []
            warm = [(t, {}) for t in data.memo_texts(data.news_documents(args.eval_dir)[::-1], 2)]
            for engine in engines.values():  # first calls pay for lazy set-up
                engine.intake.ingest_many(warm)
            chunks0 = {name: e.health()["chunks"] for name, e in engines.items()}
            for k, start in enumerate(range(0, len(texts), args.batch)):
                items = [(t, {}) for t in texts[start : start + args.batch]]
                took = {}
                for name in (("a", "b") if k % 2 == 0 else ("b", "a")):
                    began = time.perf_counter()
                    engines[name].intake.ingest_many(items)
                    took[name] = time.perf_counter() - began
                    seconds[name] += took[name]
                ratios.append(took["a"] / took["b"])
            filled = {}
            for name, engine in engines.items():
                began = time.perf_counter()
                engine.fill_entities()
                engine.fill_sentences()
                filled[name] = time.perf_counter() - began
            for name, engine in engines.items():
                chunks = engine.health()["chunks"] - chunks0[name]
                result[name] = {"chunks": chunks, "seconds": round(seconds[name], 2),
                                "chunks_per_s": round(chunks / seconds[name], 1),
                                "fill_s": round(filled[name], 2),
                                "fully_indexed_chunks_per_s": round(chunks / (seconds[name] + filled[name]), 1)}
            result["b_over_a_per_batch"] = {"median": round(statistics.median(ratios), 3),
                                            "min": round(min(ratios), 3), "max": round(max(ratios), 3),
                                            "batches": len(ratios)}
            differ = 0
            for question in questions:
                a, _ = engines["a"].ask(question)
                b, _ = engines["b"].ask(question)
                if (a.answer, a.abstained, [(c.quote, c.start, c.end) for c in a.citations]) != \
                        (b.answer, b.abstained, [(c.quote, c.start, c.end) for c in b.citations]):
                    differ += 1
            result["answers_differ"] = f"{differ} of {len(questions)}"
            entities = {name: {m.content_hash: [(x.text, x.label, x.start, x.end) for x in engine.entities(m.id)]
                               for m in engine.list(MemoFilter(), 1 << 30, 0)[0]}
                        for name, engine in engines.items()}
            differ = sum(entities["a"].get(h) != found for h, found in entities["b"].items())
            result["entities_differ"] = f"{differ} of {len(entities['b'])} memos"
        finally:
            for engine in engines.values():
                engine.close()
    data.report(result, args.out)


if __name__ == "__main__":
    main()
