"""Building the vector index from the stored embeddings (by size) and catching it up with them after a crash."""
from __future__ import annotations

import logging
import os
import time

import numpy as np

from service.storage.embedded.chunks import SqliteChunks
from service.storage.embedded.vectors.index import VectorIndex
from service.storage.embedded.vectors.kinds import IVF, TRAIN_PER_LIST, IndexPolicy, sample_rows, train_ivf

log = logging.getLogger(__name__)

# ids per SQL query when reading stored vectors by id
_ID_BATCH = 900


def stored_vectors(chunks: SqliteChunks, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stored embeddings of ``ids`` (in the order found) and the ids that were found."""
    found_ids, rows = [], []
    for start in range(0, len(ids), _ID_BATCH):
        for i, vector in chunks.vectors([int(x) for x in ids[start : start + _ID_BATCH]]).items():
            found_ids.append(i)
            rows.append(vector)
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, chunks.dimension), dtype=np.float32)
    return np.asarray(found_ids, dtype=np.int64), np.stack(rows).astype(np.float32)


def build_index(chunks: SqliteChunks, model: str, policy: IndexPolicy) -> VectorIndex:
    """A fresh index of the kind ``policy`` picks for the store's chunk count, from the embeddings in
    SQLite (nothing is re-embedded). IVF centroids are trained on a random sample of the stored vectors."""
    ids = chunks.all_ids()
    kind = policy.kind_for(len(ids))
    if kind == IVF:
        import faiss

        nlist = policy.nlist_for(len(ids))
        started = time.perf_counter()
        _, sample = stored_vectors(chunks, sample_rows(ids, TRAIN_PER_LIST * nlist))
        # k-means uses every core; searches go back to one thread each afterwards
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            trained = train_ivf(sample, nlist, policy.nprobe)
        finally:
            faiss.omp_set_num_threads(1)
        index = VectorIndex(model, chunks.dimension, trained, IVF, len(ids))
        log.info("trained an IVF index (%d lists) for %d vectors in %.1f s", nlist, len(ids),
                 time.perf_counter() - started)
    else:
        index = VectorIndex(model, chunks.dimension)
    for batch_ids, vectors in chunks.iter_vectors():
        index.add(batch_ids, vectors)
    return index


def catch_up(index: VectorIndex, chunks: SqliteChunks) -> tuple[int, int]:
    """Add the store's chunks the index lacks and remove the ids the store no longer has; returns
    (added, removed). Exact because chunk ids are never reused and a chunk's vector never changes."""
    held, stored = index.ids(), chunks.all_ids()
    extra = np.setdiff1d(held, stored, assume_unique=True)
    missing = np.setdiff1d(stored, held, assume_unique=True)
    index.remove(extra)
    found, vectors = stored_vectors(chunks, missing)
    index.add(found, vectors)
    return len(found), len(extra)
