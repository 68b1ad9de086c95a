"""Embedding backends side by side on the same texts: load time, one question, ingest-sized batches."""
from __future__ import annotations

import time
from typing import Sequence

from bench.data import latency


def measure_embedder(name: str, texts: Sequence[str], questions: Sequence[str]) -> tuple[dict, object]:
    """Load the embedder registered as ``name``, then time each question alone and ``texts`` in one
    call (as ingest sends a memo's sentences and chunks)."""
    from models import get_embedder

    started = time.perf_counter()
    embedder = get_embedder(name)
    load_s = time.perf_counter() - started
    embedder.embed(["warm-up"])
    durations = []
    for q in questions:
        started = time.perf_counter()
        embedder.embed([q])
        durations.append(time.perf_counter() - started)
    started = time.perf_counter()
    embedder.embed(list(texts))
    batch_s = time.perf_counter() - started
    return {"model": embedder.name, "load_s": round(load_s, 2), "query": latency(durations),
            "texts": len(texts), "texts_per_s": round(len(texts) / batch_s, 1)}, embedder


def compare_embedders(names: Sequence[str], texts: Sequence[str], questions: Sequence[str]) -> dict:
    """``measure_embedder`` for each name, and each one's cosine agreement with the first on ``texts``."""
    import numpy as np

    out, models = {}, {}
    for name in names:
        out[name], models[name] = measure_embedder(name, texts, questions)
    reference = models[names[0]].embed(list(texts[:200]))
    for name in names[1:]:
        cosines = (models[name].embed(list(texts[:200])) * reference).sum(axis=1)
        out[name]["cosine_to_" + names[0]] = {"min": round(float(cosines.min()), 4), "mean": round(float(np.mean(cosines)), 4)}
    return out
