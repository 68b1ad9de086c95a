"""BM25 in the embedded backend: SQLite FTS5 (``chunks_fts``, written with the chunks) and its in-memory copy
(``bm25.Bm25Index``), filled in the background and followed after every write; FTS5 answers until it is ready."""
from __future__ import annotations

import logging
import threading
from typing import Sequence

import numpy as np

from service.retrieval.lexical import query_terms
from service.storage.embedded.bm25 import Bm25Index
from service.storage.embedded.database import Database
from service.types import PreparedMemo

log = logging.getLogger(__name__)

# term document frequencies kept (fts_frequencies) before the cache starts over
_MAX_CACHED_TERMS = 100_000


class Fts:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._frequencies: tuple[int, int, dict[str, int]] = (-1, 0, {})  # generation, chunks, term -> chunks
        self._bm25 = Bm25Index()
        self._filler: threading.Thread | None = None
        self._starting = threading.Lock()  # one filler, however many threads search first
        self._reading = threading.Lock()  # close() waits for the filler's read, never its build
        self._closed = False

    # -- the in-memory copy ------------------------------------------------------------------------

    def start(self) -> None:
        """Fill the in-memory copy of ``chunks_fts`` in a background thread, once; ``search`` asks FTS5
        until it is ready (~5 s at 43,000 chunks). The server starts it at start-up, other users at their
        first search."""
        with self._starting:
            if self._filler is not None:
                return
            self._filler = threading.Thread(target=self._fill, name="bm25-fill", daemon=True)
        self._filler.start()

    def _fill(self) -> None:
        try:
            with self._reading:
                if self._closed:
                    return
                with self._db.snapshot():
                    rows = self._db.connection().execute("SELECT rowid, body FROM chunks_fts").fetchall()
            self._bm25.build(rows)
        except Exception:  # searches stay on FTS5, which is always right; say why
            log.exception("filling the in-memory BM25 failed: BM25 stays on SQLite FTS5")

    def follow(self, removed: Sequence[int], added: Sequence[int], memo: PreparedMemo | None) -> None:
        """After a write's commit: the same change to the in-memory copy, once its filling has begun (the
        filler's snapshot holds every write committed before it)."""
        if self._filler is None:
            return
        self._bm25.remove(removed)
        if memo is not None:
            self._bm25.add((i, memo.draft.text[c.start : c.end]) for i, c in zip(added, memo.chunks))

    def ready(self) -> bool:
        return self._bm25.ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Start filling the in-memory copy if nothing has, and wait until it is ready."""
        self.start()
        return self._bm25.ready.wait(timeout)

    def close(self) -> None:
        with self._reading:
            self._closed = True

    # -- searches ------------------------------------------------------------------------------------

    def search(self, words: Sequence[str], k: int, where_sql: tuple[str, list[object]] | None,
               allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, BM25 score) for any of ``words``, best first: from the in-memory copy once
        it is filled (FTS5's scores, a fraction of the time), else from FTS5 itself. ``where_sql``: the
        memo filter's SQL condition (None: no filter); ``allowed``: the chunk ids it admits."""
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            return []
        if not self._bm25.ready.is_set():
            self.start()
        terms = query_terms(words) if self._bm25.ready.is_set() else None
        if terms is None:
            return self.fts_search(words, k, where_sql)
        return self._bm25.search(terms, k, allowed)

    def fts_search(self, words: Sequence[str], k: int, where_sql: tuple[str, list[object]] | None
                   ) -> list[tuple[int, float]]:
        """``search`` by SQLite FTS5 (which stems the words); each word is a phrase."""
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        sql = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
        params: list[object] = [match]
        if where_sql is not None:
            clause, extra = where_sql
            sql += f" AND rowid IN (SELECT c.id FROM chunks c JOIN memos m ON m.id = c.memo_id WHERE {clause})"
            params.extend(extra)
        rows = self._db.connection().execute(sql + " ORDER BY bm25(chunks_fts) LIMIT ?", [*params, k]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def frequencies(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The number of chunks, and how many of them hold each (Porter-stemmed) term: from the in-memory
        copy once it is filled (FTS5's counts, no SQL), else from FTS5's vocabulary."""
        if self._bm25.ready.is_set():
            return self._bm25.frequencies(stems)
        return self.fts_frequencies(stems)

    def fts_frequencies(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        """``frequencies`` from FTS5's vocabulary, kept per store generation (looking a term up there walks
        its whole posting list: ~0.1 ms for a common word at 40k chunks)."""
        stems = list(dict.fromkeys(stems))
        with self._db.snapshot():
            conn = self._db.connection()
            generation = self._db.generation()
            cached, total, frequencies = self._frequencies
            if cached != generation or len(frequencies) > _MAX_CACHED_TERMS:
                total = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
                frequencies = {}
                # Entries carry the generation they were read at: a reader on an older snapshot may swap
                # in its own dict, but never serves or stores counts of another generation.
                self._frequencies = (generation, total, frequencies)
            missing = [t for t in stems if t not in frequencies]
            if missing:
                rows = conn.execute(
                    f"SELECT term, doc FROM chunks_vocab WHERE term IN ({','.join('?' * len(missing))})", missing
                ).fetchall()
                found = dict(rows)
                frequencies.update((t, found.get(t, 0)) for t in missing)
        return total, {t: frequencies[t] for t in stems}
