"""Hybrid retrieval of chunks: the backend's dense and BM25 lists fused here by reciprocal rank, so every
storage backend fuses the same way."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from service.retrieval.lexical import STOP_WORDS, stem, words
from service.storage.base import ChunkSearch
from service.types import Hit, MemoFilter

MODES = ("hybrid", "dense", "bm25")
# Words held by at most this many chunks always stay in the BM25 query: scanning their postings costs
# ~0.1 ms, not worth any ranking change (so stores under ~10k chunks, and the dev sets, are unaffected).
LEXICAL_FLOOR = 1000


@dataclass(frozen=True)
class RetrievalSettings:
    mode: str = "hybrid"
    depth: int = 50  # candidates taken from each list before fusion
    # BM25 leaves out a question's words held by more than this share of the chunks (and more than
    # LEXICAL_FLOOR), unless that leaves none: README "Measured", /ask at 10k memos. None: every word.
    lexical_max_share: float | None = 0.1
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0


def query_words(question: str) -> list[str]:
    """The question's content words for BM25 (FTS5 applies its own Porter stemming), a possessive ``'s``
    dropped: FTS5 reads ``tesla's`` as the phrase ``tesla s``, which misses every plain "Tesla"."""
    found = (w[:-2] if w.endswith("'s") else w for w in words(question))
    return [w for w in found if w and w not in STOP_WORDS]


def selective_words(words_: list[str], chunks: ChunkSearch, max_share: float | None) -> list[str]:
    """``words_`` without those held by more than ``max_share`` of the chunks (and more than
    ``LEXICAL_FLOOR``), unless none would be left. FTS5 scores every chunk that holds any word of the query,
    so one word found in a third of a large store costs more than the rest of an answer, while its BM25
    weight (IDF) is small."""
    if max_share is None or not words_:
        return words_
    total, held_by = chunks.frequencies([stem(w) for w in words_])
    limit = max(LEXICAL_FLOOR, max_share * total)
    kept = [w for w in words_ if held_by[stem(w)] <= limit]
    return kept or words_


def fuse(lists: list[list[tuple[int, float]]], weights: list[float], rrf_k: int) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion: sum of ``weight / (rrf_k + rank)`` over the lists, best first."""
    scores: dict[int, float] = {}
    for ranked, weight in zip(lists, weights):
        for rank, (item, _) in enumerate(ranked):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def search_chunks(
    chunks: ChunkSearch,
    query: np.ndarray,
    question: str,
    k: int,
    where: MemoFilter,
    settings: RetrievalSettings,
) -> list[Hit]:
    """The ``k`` best chunks among the memos that pass ``where``, best first."""
    if settings.mode not in MODES:
        raise ValueError(f"retrieval mode {settings.mode!r}; expected one of {MODES}")
    depth = max(k, settings.depth)
    dense = chunks.dense(query, depth, where) if settings.mode != "bm25" else []
    lexical = []
    if settings.mode != "dense":
        # the BM25-only mode is the plain baseline: every word
        share = settings.lexical_max_share if settings.mode == "hybrid" else None
        lexical = chunks.lexical(selective_words(query_words(question), chunks, share), depth, where)
    if settings.mode == "dense":
        ranked = dense[:k]
    elif settings.mode == "bm25":
        ranked = lexical[:k]
    else:
        ranked = fuse([dense, lexical], [settings.dense_weight, settings.lexical_weight], settings.rrf_k)[:k]
    cosines = dict(dense)
    missing = [i for i, _ in ranked if i not in cosines]
    for i, vector in chunks.vectors(missing).items():
        cosines[i] = float(vector @ query)
    refs = chunks.refs([i for i, _ in ranked])
    # A chunk deleted between the search and the lookup is simply skipped.
    return [
        Hit(c.id, c.memo_id, c.start, c.end, c.first, c.last, score, cosines.get(i, 0.0))
        for i, score in ranked
        if (c := refs.get(i)) is not None
    ]


def term_weights(chunks: ChunkSearch, stems: Sequence[str]) -> dict[str, float]:
    """BM25-style inverse document frequency over chunks of each (Porter-stemmed) term; a term no chunk
    contains gets the highest weight."""
    total, df = chunks.frequencies(stems)
    return {t: math.log((total - n + 0.5) / (n + 0.5) + 1.0) for t, n in df.items()}


def rank_memos(hits: list[Hit]) -> list[tuple[str, float]]:
    """Memos in the order of their best chunk."""
    seen: dict[str, float] = {}
    for hit in hits:
        seen.setdefault(hit.memo_id, hit.score)
    return list(seen.items())
