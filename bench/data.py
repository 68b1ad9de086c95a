"""Benchmark inputs and statistics: real public texts as distinct memos, questions, latency percentiles."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def latency(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds of durations in seconds."""
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "mean_ms": round(sum(ms) / len(ms), 2)}


def timed_calls(fn: Callable[[T], object], items: Sequence[T], clients: int) -> tuple[list[float], float]:
    """``fn`` over ``items`` by ``clients`` closed-loop workers (each sends its next request when the last
    answered); returns each call's duration and the wall time of the whole run, in seconds."""
    def one(item: T) -> float:
        started = time.perf_counter()
        fn(item)
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        durations = list(pool.map(one, items))
    return durations, time.perf_counter() - started


def news_documents(eval_dir: Path) -> list[str]:
    """The public news and Wikipedia texts of ``eval_dir``, taking turns: BBC and CNN/DM articles and the
    XQuAD paragraphs (so XQuAD's questions have answers among the memos, even in a small prefix)."""
    sources: list[list[str]] = []
    for name in ("summ_bbc_dev.jsonl", "summ_cnndm_dev.jsonl"):
        with open(eval_dir / name, encoding="utf-8") as f:
            sources.append([json.loads(line)["document"] for line in f])
    with open(eval_dir / "retrieval" / "xquad_dev" / "corpus.jsonl", encoding="utf-8") as f:
        sources.append([f"{row['title']}\n\n{row['text']}" for row in map(json.loads, f)])
    turns = [doc for group in zip_longest(*sources) for doc in group if doc]
    return list(dict.fromkeys(d.strip() for d in turns if d.strip()))


def memo_texts(documents: Sequence[str], count: int) -> list[str]:
    """``count`` distinct memos: the documents in turn, each under its own dated header
    (``12 Mar 2019; MEMO: Bulletin 17.``), so repeats are new memos with new content hashes."""
    start = date(2015, 1, 1)
    texts = []
    for i in range(count):
        day = start + timedelta(days=i % 3650)
        texts.append(f"{day.day} {day.strftime('%b %Y')}; MEMO: Bulletin {i + 1}.\n\n{documents[i % len(documents)]}")
    return texts


def questions(eval_dir: Path) -> list[str]:
    """XQuAD's questions, in file order, without repeats."""
    with open(eval_dir / "qa_xquad_dev.jsonl", encoding="utf-8") as f:
        return list(dict.fromkeys(json.loads(line)["question"] for line in f))


def report(result: dict, out: Path | None) -> None:
    """Print a bench result as JSON and write it to ``out`` too, when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
