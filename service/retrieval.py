"""Dense retrieval of chunks, with the memo filters applied inside the FAISS search."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
