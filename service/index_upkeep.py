"""Keeping the vector index in step with the store: build by size, catch up after a crash, save in the background."""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import numpy as np

from service.index import VectorIndex
from service.index_kinds import IVF, TRAIN_PER_LIST, IndexPolicy, sample_rows, train_ivf
from service.store import Store

log = logging.getLogger(__name__)

# ids per SQL query when reading stored vectors by id
_ID_BATCH = 900


def stored_vectors(store: Store, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stored embeddings of ``ids`` (in the order found) and the ids that were found."""
    found_ids, rows = [], []
    for start in range(0, len(ids), _ID_BATCH):
        for i, vector in store.chunk_vectors([int(x) for x in ids[start : start + _ID_BATCH]]).items():
            found_ids.append(i)
            rows.append(vector)
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, store.dimension), dtype=np.float32)
    return np.asarray(found_ids, dtype=np.int64), np.stack(rows).astype(np.float32)


def build_index(store: Store, model: str, policy: IndexPolicy) -> VectorIndex:
    """A fresh index of the kind ``policy`` picks for the store's chunk count, from the embeddings in
    SQLite (nothing is re-embedded). IVF centroids are trained on a random sample of the stored vectors."""
    ids = store.chunk_id_array()
    kind = policy.kind_for(len(ids))
    if kind == IVF:
        import faiss

        nlist = policy.nlist_for(len(ids))
        started = time.perf_counter()
        _, sample = stored_vectors(store, sample_rows(ids, TRAIN_PER_LIST * nlist))
        # k-means uses every core; searches go back to one thread each afterwards
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            trained = train_ivf(sample, nlist, policy.nprobe)
        finally:
            faiss.omp_set_num_threads(1)
        index = VectorIndex(model, store.dimension, trained, IVF, len(ids))
        log.info("trained an IVF index (%d lists) for %d vectors in %.1f s", nlist, len(ids),
                 time.perf_counter() - started)
    else:
        index = VectorIndex(model, store.dimension)
    for batch_ids, vectors in store.iter_chunk_vectors():
        index.add(batch_ids, vectors)
    return index


def catch_up(index: VectorIndex, store: Store) -> tuple[int, int]:
    """Add the store's chunks the index lacks and remove the ids the store no longer has; returns
    (added, removed). Exact because chunk ids are never reused and a chunk's vector never changes."""
    held, stored = index.ids(), store.chunk_id_array()
    extra = np.setdiff1d(held, stored, assume_unique=True)
    missing = np.setdiff1d(stored, held, assume_unique=True)
    index.remove(extra)
    found, vectors = stored_vectors(store, missing)
    index.add(found, vectors)
    return len(found), len(extra)


class IndexSaver:
    """Writes the index at most every ``interval`` seconds while it has unsaved changes, from a daemon
    thread, and once more on ``stop``. ``interval`` 0: ``changed`` saves at once, in the caller's thread.

    A save copies the whole index, so saving after every memo would cost O(index size) per write (about
    0.3 s at 65k vectors); SQLite stays the source of truth, and a start after a crash catches the index
    up from it (``catch_up``)."""

    def __init__(self, save: Callable[[], None], interval: float) -> None:
        self._save = save
        self.interval = interval
        self._dirty = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        if interval > 0:
            self._thread = threading.Thread(target=self._run, name="index-saver", daemon=True)
            self._thread.start()

    def changed(self) -> None:
        """The index changed; callers hold the engine's write lock."""
        if self.interval <= 0:
            self._save()
            return
        with self._lock:
            self._dirty = True

    def flush(self) -> None:
        """Save now if anything is unsaved."""
        with self._lock:
            dirty, self._dirty = self._dirty, False
        if dirty:
            try:
                self._save()
            except BaseException:
                with self._lock:
                    self._dirty = True
                raise

    def _run(self) -> None:
        while not self._wake.wait(self.interval):
            try:
                self.flush()
            except Exception:  # a full disk must not kill the thread: the next round tries again
                log.exception("saving the index failed; retrying in %s s", self.interval)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
