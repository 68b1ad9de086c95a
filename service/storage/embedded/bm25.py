"""BM25 over chunk text, in memory, scored as SQLite FTS5's ``bm25()`` scores the store's ``chunks_fts``.

FTS5 stays the embedded backend's lexical index of record (written in the chunks' own transactions); this
is a copy kept beside it because FTS5 calls ``bm25()`` once per matching row: at 10,000 memos that was
~5 ms of a question's ~12 (docs/performance.md), while reading the same postings from arrays takes a
fraction of a ms. ``fts.Fts`` fills it from ``chunks_fts`` in a background thread (at server start-up, or
at the first search) and applies every write to it after the write's commit. Terms are
``service.lexical.index_terms``, made as FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer makes
them, so scores and ranks agree with FTS5's (``scripts/check_selection.py --parity`` compares the two).
"""
from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from service.retrieval.lexical import B, K1, index_terms


class _Postings:
    """One term's chunks and term frequencies, in growable arrays (appends are amortised)."""

    __slots__ = ("ids", "tfs", "n")

    def __init__(self) -> None:
        self.ids = np.empty(4, dtype=np.int64)
        self.tfs = np.empty(4, dtype=np.float64)
        self.n = 0

    def append(self, chunk_id: int, tf: int) -> None:
        if self.n == len(self.ids):
            self.ids = np.resize(self.ids, 2 * self.n)
            self.tfs = np.resize(self.tfs, 2 * self.n)
        self.ids[self.n] = chunk_id
        self.tfs[self.n] = tf
        self.n += 1

    def live(self, length: np.ndarray) -> "_Postings":
        kept = _Postings()
        ids, tfs = self.ids[: self.n], self.tfs[: self.n]
        mask = length[ids] > 0
        kept.ids, kept.tfs = ids[mask].copy(), tfs[mask].copy()
        kept.n = len(kept.ids)
        if kept.n == 0:
            kept.ids, kept.tfs = np.empty(4, dtype=np.int64), np.empty(4, dtype=np.float64)
        return kept


class Bm25Index:
    """Chunk id -> terms, with FTS5's statistics (rows, total tokens, rows per term). Writers call ``add``
    and ``remove`` after their commit, serialised by the store's caller; both are idempotent (chunk ids
    are never reused), so a write that lands during ``build`` is neither lost nor counted twice. Searches
    may run beside a write and see it half applied, as they may with the vector index."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._postings: dict[str, _Postings] = {}
        self._df: Counter[str] = Counter()
        self._terms: dict[int, tuple[str, ...]] = {}  # a chunk's distinct terms, to undo it
        self._length = np.zeros(1024, dtype=np.float64)  # by chunk id; 0: not indexed
        self._tokens = 0
        self._dead = 0  # postings of removed chunks still in the arrays
        self._live = 0  # postings of indexed chunks
        self._gone: set[int] = set()  # removed while ``build`` runs
        self.ready = threading.Event()

    def __len__(self) -> int:
        return len(self._terms)

    def build(self, rows: Iterable[tuple[int, str]], batch: int = 1000) -> None:
        """Index ``(chunk id, text)`` rows (the store's at one snapshot), a batch per lock hold so that
        writes are not held up for long, then serve searches. Chunks removed meanwhile are skipped: the
        snapshot may predate their removal."""
        pending: list[tuple[int, str]] = []
        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                self._add_unless_gone(pending)
                pending = []
        self._add_unless_gone(pending)
        with self._lock:
            self._gone.clear()
            self.ready.set()

    def _add_unless_gone(self, rows: list[tuple[int, str]]) -> None:
        with self._lock:
            for chunk_id, text in rows:
                if int(chunk_id) not in self._gone:
                    self._add(int(chunk_id), text)

    def add(self, rows: Iterable[tuple[int, str]]) -> None:
        with self._lock:
            for chunk_id, text in rows:
                self._add(int(chunk_id), text)

    def _add(self, chunk_id: int, text: str) -> None:
        if chunk_id in self._terms:
            return
        terms = index_terms(text)
        if chunk_id >= len(self._length):
            grown = np.zeros(max(2 * len(self._length), chunk_id + 1), dtype=np.float64)
            grown[: len(self._length)] = self._length
            self._length = grown
        counts = Counter(terms)
        for term, tf in counts.items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = _Postings()
            postings.append(chunk_id, tf)
        self._df.update(counts.keys())
        self._terms[chunk_id] = tuple(counts)
        self._length[chunk_id] = len(terms)
        self._tokens += len(terms)
        self._live += len(counts)

    def remove(self, chunk_ids: Iterable[int]) -> None:
        with self._lock:
            for chunk_id in chunk_ids:
                if not self.ready.is_set():
                    self._gone.add(int(chunk_id))
                terms = self._terms.pop(int(chunk_id), None)
                if terms is None:
                    continue
                self._df.subtract(terms)
                self._tokens -= int(self._length[chunk_id])
                self._length[chunk_id] = 0
                self._dead += len(terms)
                self._live -= len(terms)
            if self._dead > max(1024, self._live // 4):
                self._compact()

    def _compact(self) -> None:
        self._postings = {t: p.live(self._length) for t, p in self._postings.items() if self._df[t] > 0}
        self._df = Counter({t: n for t, n in self._df.items() if n > 0})
        self._dead = 0

    def frequencies(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The number of chunks, and how many of them hold each term (FTS5's ``fts5vocab`` counts)."""
        with self._lock:
            return len(self._terms), {t: max(self._df.get(t, 0), 0) for t in terms}

    def search(self, terms: Sequence[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, BM25 score) for any of ``terms`` (``query_terms``), best first, among
        ``allowed`` chunk ids if given; ties by chunk id. FTS5's formula: per term, ``idf * tf * (k1 + 1) /
        (tf + k1 * (1 - b + b * len / avglen))`` with ``idf = log((N - n + 0.5) / (n + 0.5))`` (1e-6 when
        not positive)."""
        with self._lock:
            rows, tokens, length = len(self._terms), self._tokens, self._length
            lists = []
            for term in terms:
                postings = self._postings.get(term)
                if postings is not None and postings.n:
                    lists.append((self._df[term], postings.ids[: postings.n], postings.tfs[: postings.n]))
        if not rows or not lists:
            return []
        average = tokens / rows
        ids_parts, score_parts = [], []
        for df, ids, tfs in lists:
            idf = math.log((rows - df + 0.5) / (df + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            lengths = length[ids]
            live = lengths > 0
            if allowed is not None:
                live &= np.isin(ids, allowed)
            ids, tfs, lengths = ids[live], tfs[live], lengths[live]
            ids_parts.append(ids)
            score_parts.append(idf * tfs * (K1 + 1.0) / (tfs + K1 * (1.0 - B + B * lengths / average)))
        ids = np.concatenate(ids_parts)
        if not len(ids):
            return []
        unique, inverse = np.unique(ids, return_inverse=True)
        scores = np.bincount(inverse, weights=np.concatenate(score_parts))
        order = np.lexsort((unique, -scores))[:k]
        return [(int(unique[i]), float(scores[i])) for i in order]
