"""``ChunkSearch`` in PostgreSQL: dense lists from the HNSW index (iterative scans keep a narrow filter at
k hits), BM25 lists computed in SQL from the postings tables, chunk rows; every search sees the latest commit."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from service.retrieval.lexical import index_terms
from service.storage.postgres.database import Database
from service.storage.postgres.filters import filter_sql
from service.storage.postgres.postings import BM25_SQL
from service.storage.postgres.repository import as_array
from service.types import ChunkRef, MemoFilter

EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search


def _where(where: MemoFilter, chunks: str = "") -> tuple[str, str, list[object]]:
    """The joins, the condition and its parameters for chunks (alias ``c``) of memos passing ``where``;
    ``chunks``: the join that brings in ``c`` when the query does not read it already."""
    if where.is_empty():
        return "", "TRUE", []
    if where.memo_ids is not None and where == MemoFilter(memo_ids=where.memo_ids):
        return chunks, "c.memo_id = ANY(%s)", [list(where.memo_ids)]
    clause, params = filter_sql(where)
    return f"{chunks} JOIN memos m ON m.id = c.memo_id", clause, params


class PgChunks:
    def __init__(self, db: Database, dimension: int, ef_search: int) -> None:
        self._db = db
        self.dimension = dimension
        self.ef_search = ef_search

    def dense(self, vector: np.ndarray, k: int, where: MemoFilter) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        join, clause, params = _where(where)
        with self._db.read() as conn, conn.transaction():
            # relaxed_order: when the filter drops candidates the scan goes on through the graph until k
            # pass (or hnsw.max_scan_tuples); results may come slightly out of order, so they are sorted here
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            conn.execute(f"SET LOCAL hnsw.ef_search = {min(max(self.ef_search, k), EF_SEARCH_MAX)}")
            rows = conn.execute(
                f"SELECT c.id, -(c.embedding <#> %s) AS score FROM chunks c {join} WHERE {clause} "
                "ORDER BY c.embedding <#> %s LIMIT %s",
                [query, *params, query, k],
            ).fetchall()
        return sorted(((int(i), float(s)) for i, s in rows), key=lambda r: (-r[1], r[0]))

    def lexical(self, words: Sequence[str], k: int, where: MemoFilter) -> list[tuple[int, float]]:
        words = list(dict.fromkeys(w for w in words if w))
        # a word FTS5 reads as several terms (o'neill) is a phrase there; without positions, its terms count alone
        terms = [t for w in words for t in index_terms(w)]
        if not terms or k <= 0:
            return []
        join, clause, params = _where(where, "JOIN chunks c ON c.id = p.chunk_id")
        rows = self._db.all(BM25_SQL.format(join=join, clause=clause), [terms, *params, k])
        return [(int(i), float(s)) for i, s in rows]

    def frequencies(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        stems = list(dict.fromkeys(stems))
        with self._db.read() as conn:
            total = conn.execute("SELECT chunks FROM bm25_stats").fetchone()[0]
            found = dict(conn.execute("SELECT term, df FROM term_stats WHERE term = ANY(%s)", (stems,)).fetchall())
        return int(total), {t: int(found.get(t, 0)) for t in stems}

    def refs(self, ids: Sequence[int]) -> dict[int, ChunkRef]:
        if not ids:
            return {}
        rows = self._db.all('SELECT id, memo_id, start, "end", first_sentence, last_sentence FROM chunks '
                            "WHERE id = ANY(%s)", ([int(i) for i in ids],))
        return {int(r[0]): ChunkRef(int(r[0]), *r[1:]) for r in rows}

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        rows = self._db.all("SELECT id, embedding FROM chunks WHERE id = ANY(%s)", ([int(i) for i in ids],), binary=True)
        return {int(r[0]): as_array(r[1]) for r in rows}
