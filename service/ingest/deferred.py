"""Sentence vectors (and entities) after the acknowledgement.

A memo is stored (and acknowledged) with its chunk vectors, which search needs, and a row of zeros for each
sentence vector, which only reading a memo's sentences needs (``/ask`` scores them, a brief ranks them).
``DeferredFiller`` embeds them in a background thread once ingest has been quiet for a moment; a reader that
meets a zero row first embeds that sentence on the spot (``complete``), with the same embedder and so the
same vector (``minilm-q8`` embeds one text per model run, so a vector does not depend on its neighbours).
A zero row is never a real vector: embeddings are L2-normalised. Entities deferred the same way are read
by the same thread (``service.ingest.entities.EntityReader``).
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from models.embedders import Embedder
from service.background import Background
from service.ingest.entities import EntityReader
from service.storage.base import Storage
from service.types import SentenceRows

log = logging.getLogger(__name__)


def missing(vectors: np.ndarray) -> np.ndarray:
    """Which rows are not embedded yet (all zeros)."""
    return ~np.any(vectors, axis=1) if len(vectors) else np.zeros(0, dtype=bool)


def complete(rows: SentenceRows, text: str | None, embedder: Embedder) -> SentenceRows:
    """``rows`` with every zero vector replaced by its sentence's embedding (``text`` is the memo's text,
    read in the same snapshot as ``rows``)."""
    gaps = np.flatnonzero(missing(rows.vectors))
    if not len(gaps) or text is None:
        return rows
    vectors = rows.vectors.copy()
    vectors[gaps] = embedder.embed([text[rows.spans[i][1] : rows.spans[i][2]] for i in gaps])
    return SentenceRows(rows.spans, vectors)


def fill_memo(storage: Storage, embedder: Embedder, memo_id: str) -> int:
    """Embed and store a memo's missing sentence vectors; how many were stored (0 when it changed meanwhile:
    ``fill_sentences`` only writes a row whose memo still has the text read here)."""
    with storage.snapshot():
        memo = storage.memos.get(memo_id)
        rows = storage.memos.sentences(memo_id) if memo is not None else None
    if memo is None or rows is None:
        return 0
    gaps = np.flatnonzero(missing(rows.vectors))
    if not len(gaps):
        return 0
    vectors = embedder.embed([memo.text[rows.spans[i][1] : rows.spans[i][2]] for i in gaps])
    return storage.memos.fill_sentences(memo_id, memo.content_hash,
                                        [(*rows.spans[i], vectors[k]) for k, i in enumerate(gaps)])


def fill_all(storage: Storage, embedder: Embedder, batch: int = 64) -> int:
    """Fill every missing sentence vector now (``memo ingest`` before it exits); how many were stored."""
    stored, skipped = 0, set()
    while True:
        todo = [m for m in storage.memos.unembedded(batch + len(skipped)) if m not in skipped]
        if not todo:
            return stored
        for memo_id in todo:
            done = fill_memo(storage, embedder, memo_id)
            stored += done
            if not done:
                skipped.add(memo_id)  # changed under us: its new rows are another writer's


class Activity:
    """Whether ingest is running or ran a moment ago: the filler gives way to it, so the cores go to
    acknowledging memos while they arrive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._last = 0.0

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._last = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since the last ingest ended (0 while one runs)."""
        with self._lock:
            return 0.0 if self._running else time.monotonic() - self._last


class DeferredFiller(Background):
    """Fills what ingest deferred, one memo at a time in a background thread, after ``quiet_s`` seconds
    without ingest: entities first (filters and facets wait for them), then sentence vectors. The queue is
    the store itself (memos with no entity run, or with a zero row), so it survives restarts."""

    def __init__(self, storage: Storage, embedder: Embedder, activity: Activity, entities: EntityReader | None = None,
                 quiet_s: float = 1.0, idle_s: float = 60.0) -> None:
        super().__init__("deferred-filler")
        self._storage = storage
        self._embedder = embedder
        self._entities = entities
        self._activity = activity
        self._quiet_s = quiet_s
        self._idle_s = idle_s
        self._failed: set[str] = set()  # changed while being filled; looked at again after a restart
        self._unread: set[str] = set()  # the same, for entities

    def _next_sentences(self) -> str | None:
        todo = self._storage.memos.unembedded(len(self._failed) + 1)
        return next((m for m in todo if m not in self._failed), None)

    def _fill_one(self) -> bool:
        """Fill one memo's entities, else one memo's sentence vectors; False when there was nothing to do."""
        if self._entities is not None:
            pending = [(m, d) for m, d in self._entities.waiting() if m not in self._unread]
            if pending:
                for memo_id, digest in pending:  # the whole list, while ingest stays quiet
                    if self._activity.quiet_for() < self._quiet_s or self._stop.is_set():
                        break
                    if not self._entities.read(memo_id, digest):
                        self._unread.add(memo_id)
                return True
        memo_id = self._next_sentences()
        if memo_id is None:
            return False
        if not fill_memo(self._storage, self._embedder, memo_id):
            self._failed.add(memo_id)  # changed meanwhile; the next start looks again
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            quiet = self._activity.quiet_for()
            if quiet < self._quiet_s:
                self._stop.wait(self._quiet_s - quiet)
                continue
            try:
                busy = self._fill_one()
            except Exception:  # the store closed under us, or a transient error
                log.exception("deferred filler: could not fill")
                busy = False
            if not busy:
                self._wake.wait(self._idle_s)
                self._wake.clear()
