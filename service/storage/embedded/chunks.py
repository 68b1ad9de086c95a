"""``ChunkSearch`` in the embedded backend: dense lists from FAISS, BM25 lists from FTS5 or its in-memory
copy, both filtered by the chunk ids a ``MemoFilter`` admits; chunk rows from SQLite."""
from __future__ import annotations

import threading
from typing import Iterator, Protocol, Sequence

import numpy as np

from service.storage.embedded.database import Database
from service.storage.embedded.filters import filter_sql
from service.storage.embedded.fts import Fts
from service.types import ChunkRef, MemoFilter


# filters whose admitted chunk ids are kept (until the next write): a hybrid search asks twice
_ALLOWED_CACHE = 8


def vectors_of(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1).copy()


def blob_of(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


class DenseIndex(Protocol):
    """What chunk search needs of the FAISS index (``vectors.index.VectorIndex``)."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]: ...


class Keeper(Protocol):
    index: DenseIndex


class SqliteChunks:
    def __init__(self, db: Database, fts: Fts, dimension: int) -> None:
        self._db = db
        self.fts = fts
        self.dimension = dimension
        self.keeper: Keeper | None = None  # set once the index is open
        self._allowed: dict[tuple[MemoFilter, int], np.ndarray] = {}  # (filter, db.writes) -> ids
        self._allowed_lock = threading.Lock()

    # -- ChunkSearch ---------------------------------------------------------------------------------

    def dense(self, vector: np.ndarray, k: int, where: MemoFilter) -> list[tuple[int, float]]:
        assert self.keeper is not None
        return self.keeper.index.search(vector, k, self.ids(where))

    def lexical(self, words: Sequence[str], k: int, where: MemoFilter) -> list[tuple[int, float]]:
        if where.is_empty():
            return self.fts.search(words, k, None, None)
        return self.fts.search(words, k, filter_sql(where), self.ids(where))

    def frequencies(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        return self.fts.frequencies(stems)

    def refs(self, ids: Sequence[int]) -> dict[int, ChunkRef]:
        if not ids:
            return {}
        rows = self._db.connection().execute(
            "SELECT id, memo_id, start, end, first_sentence, last_sentence FROM chunks "
            f"WHERE id IN ({','.join('?' * len(ids))})",
            [int(i) for i in ids],
        ).fetchall()
        return {r[0]: ChunkRef(*r) for r in rows}

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        rows = self._db.connection().execute(
            f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(ids))})", [int(i) for i in ids]
        ).fetchall()
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    # -- the embedded backend's own ------------------------------------------------------------------

    def ids(self, where: MemoFilter) -> np.ndarray | None:
        """Ids of the chunks of the memos that pass ``where`` (None: no filter), kept until the next write."""
        if where.is_empty():
            return None
        key = (where, self._db.writes)
        with self._allowed_lock:
            found = self._allowed.get(key)
        if found is not None:
            return found
        clause, params = filter_sql(where)
        rows = self._db.connection().execute(
            f"SELECT c.id FROM chunks c JOIN memos m ON m.id = c.memo_id WHERE {clause}", params
        ).fetchall()
        found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        with self._allowed_lock:
            if len(self._allowed) >= _ALLOWED_CACHE:
                self._allowed.clear()
            self._allowed[key] = found
        return found

    def all_ids(self) -> np.ndarray:
        """Every chunk id, ascending (to check an index holds exactly the store's chunks)."""
        rows = self._db.connection().execute("SELECT id FROM chunks ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def iter_vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All chunk ids and embeddings, in id order, a batch at a time (for index rebuilds)."""
        last = -1
        conn = self._db.connection()
        while True:
            rows = conn.execute(
                "SELECT id, embedding FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield np.array([r[0] for r in rows], dtype=np.int64), vectors_of([r[1] for r in rows], self.dimension)
