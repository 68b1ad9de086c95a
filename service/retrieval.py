"""Dense retrieval of chunks (memo filters applied inside the FAISS search) and of their sentences."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.answer import Passage
from service.index import VectorIndex
from service.store import MemoFilter, Store


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: ``memo.text[start:end]`` spans sentences ``first..last``."""

    chunk_id: int
    memo_id: str
    start: int
    end: int
    first: int
    last: int
    score: float


def search_chunks(index: VectorIndex, store: Store, query: np.ndarray, k: int, where: MemoFilter) -> list[Hit]:
    """The ``k`` chunks closest to ``query`` among the memos that pass ``where``, best first."""
    allowed = None if where.is_empty() else store.chunk_ids(where)
    pairs = index.search(query, k, allowed)
    chunks = store.get_chunks([i for i, _ in pairs])
    # A chunk deleted between the search and the lookup is simply skipped.
    return [
        Hit(c.id, c.memo_id, c.start, c.end, c.first, c.last, score)
        for i, score in pairs
        if (c := chunks.get(i)) is not None
    ]


def collect_passages(store: Store, hits: list[Hit]) -> list[Passage]:
    """The sentences of the hit chunks with their stored embeddings; a sentence in several hit chunks
    keeps the best chunk's score as its context."""
    passages: dict[tuple[str, int], Passage] = {}
    texts: dict[str, str | None] = {}
    for hit in hits:
        if hit.memo_id not in texts:
            texts[hit.memo_id] = store.memo_text(hit.memo_id)
        text = texts[hit.memo_id]
        if text is None:
            continue
        rows, vectors = store.sentences(hit.memo_id, hit.first, hit.last)
        for (idx, start, end), vector in zip(rows, vectors):
            key = (hit.memo_id, idx)
            if key not in passages or passages[key].context < hit.score:
                passages[key] = Passage(hit.memo_id, start, end, text[start:end], vector, hit.score)
    return list(passages.values())
