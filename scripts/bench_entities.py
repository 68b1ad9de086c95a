"""What entity extraction adds to ingest: spaCy NER time per memo, and in-process ingest with and without it.

Loads the NER pipeline as the service does, times it on the seed memo (repeated) and on N BBC articles
from ../shared/eval, then ingests the same articles into two fresh engines on the real embedder, one
with ``ENTITIES=spacy`` and one with ``ENTITIES=none`` (taking turns at each article, so that load from other
processes falls on both alike), and compares the mean ingest time per memo.
Prints a table and writes JSON (--out).

    nice -n 10 .venv/bin/python scripts/bench_entities.py --articles 100 --out bench-results/entities.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
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

from bench.data import percentile  # noqa: E402
from service.ingest.entities import find_entities# noqa: E402


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "mean_ms": round(statistics.fmean(ms), 1)}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_ner(extractor, texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        t = time.perf_counter()
        find_entities(extractor, text)
        out.append((time.perf_counter() - t) * 1000)
    return out


def time_ingest(texts: list[str]) -> dict[str, list[float]]:
    """Ingest every text into two fresh engines, one with entities and one without, alternating which goes
    first, so that load from other processes falls on both alike."""
    from service.config import load_config
    from service.engine import build_engine

    times: dict[str, list[float]] = {"spacy": [], "none": []}
    with tempfile.TemporaryDirectory() as tmp:
        engines = {name: build_engine(load_config({"DATA_DIR": f"{tmp}/{name}", "SEEDS_DIR": None,
                                                   "ENTITIES": name})) for name in times}
        try:
            for engine in engines.values():
                engine.ingest("Warm-up memo about ports in Syria.")
            for i, text in enumerate(texts):
                for name in (("spacy", "none") if i % 2 == 0 else ("none", "spacy")):
                    t = time.perf_counter()
                    engines[name].ingest(text)
                    times[name].append((time.perf_counter() - t) * 1000)
            return times
        finally:
            for engine in engines.values():
                engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--repeat-seed", type=int, default=20)
    parser.add_argument("--bbc", type=Path, default=EVAL / "summ_bbc_dev.jsonl")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from models.nlp.entities import load_spacy_entities

    seed = sorted((ROOT / "seeds").glob("*.txt"))[0].read_text(encoding="utf-8")
    with open(args.bbc, encoding="utf-8") as f:
        articles = [json.loads(line)["document"] for line in f][: args.articles]

    # The service loads the embedder (and torch) first; measure what the NER pipeline adds on top.
    from models.embedders.sentence_transformers import load_minilm

    embedder = load_minilm()
    rss_before = rss_mb()
    t = time.perf_counter()
    extractor = load_spacy_entities()
    load_s = time.perf_counter() - t
    rss_added = rss_mb() - rss_before
    del embedder
    time_ner(extractor, [seed])  # the first call pays one-off set-up
    seed_ms = time_ner(extractor, [seed] * args.repeat_seed)
    article_ms = time_ner(extractor, articles)
    ingest_ms = time_ingest(articles)
    with_ms, without_ms = ingest_ms["spacy"], ingest_ms["none"]

    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "extractor": extractor.name,
        "load_s": round(load_s, 2),
        "load_rss_mb": round(rss_added, 1),
        "seed_memo": {"chars": len(seed), **summary(seed_ms)},
        "bbc_articles": {"mean_chars": round(statistics.fmean(len(a) for a in articles)), **summary(article_ms)},
        "ingest_with_entities": summary(with_ms),
        "ingest_without_entities": summary(without_ms),
    }
    added = result["ingest_with_entities"]["mean_ms"] - result["ingest_without_entities"]["mean_ms"]
    result["added_share_of_ingest"] = round(added / result["ingest_without_entities"]["mean_ms"], 3)
    rows = [
        ("NER pipeline load", f"{result['load_s']} s, +{result['load_rss_mb']} MB RSS"),
        (f"NER, seed memo ({len(seed)} chars, x{args.repeat_seed})",
         f"p50 {result['seed_memo']['p50_ms']} ms, p95 {result['seed_memo']['p95_ms']} ms"),
        (f"NER, {len(articles)} BBC articles (mean {result['bbc_articles']['mean_chars']} chars)",
         f"p50 {result['bbc_articles']['p50_ms']} ms, p95 {result['bbc_articles']['p95_ms']} ms, "
         f"mean {result['bbc_articles']['mean_ms']} ms"),
        ("ingest per article, with entities", f"mean {result['ingest_with_entities']['mean_ms']} ms"),
        ("ingest per article, without", f"mean {result['ingest_without_entities']['mean_ms']} ms"),
        ("added by entities", f"{added:.1f} ms ({result['added_share_of_ingest']:.1%})"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
