"""Vector search alone at 100k-1M vectors: Flat, IVF (as served) and HNSW, latency and recall@10 vs exact."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.data import latency
from service.storage.embedded.vectors.kinds import TRAIN_PER_LIST, IndexPolicy, new_flat, sample_rows, train_ivf

# A copy's noise has this norm before normalising: cosine to its source ~0.86, like a close paraphrase.
NOISE = 0.6
K = 10


def stored_vectors(db_path: Path) -> np.ndarray:
    """The distinct sentence and chunk embeddings of a data dir's store (real text, real model)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        blobs = {row[0] for table in ("chunks", "sentences") for row in conn.execute(f"SELECT embedding FROM {table}")}
    finally:
        conn.close()
    return np.frombuffer(b"".join(sorted(blobs)), dtype=np.float32).reshape(len(blobs), -1).copy()


def noisy_copies(base: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors: the ``base`` rows in turn (the first copy of each exact), then copies with
    Gaussian noise of norm ~``NOISE``, normalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, base.shape[1]), dtype=np.float32)
    block = 65536
    for start in range(0, count, block):
        rows = np.arange(start, min(count, start + block))
        x = base[rows % len(base)].copy()
        noisy = rows >= len(base)
        x[noisy] += rng.standard_normal((int(noisy.sum()), base.shape[1]), dtype=np.float32) * (NOISE / np.sqrt(base.shape[1]))
        out[rows] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _search_each(index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """One query at a time, as a request does; durations and the ids found."""
    durations, found = [], np.empty((len(queries), K), dtype=np.int64)
    for i, q in enumerate(queries):
        started = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), K)
        durations.append(time.perf_counter() - started)
        found[i] = ids[0]
    return durations, found


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    return round(float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)])), 4)


def measure_size(vectors: np.ndarray, queries: np.ndarray, policy: IndexPolicy, nprobes: Sequence[int],
                 hnsw: bool, build_threads: int) -> dict:
    """Flat, IVF at several ``nprobes`` and (if ``hnsw``) HNSW32 over ``vectors``: build time, latency
    with one FAISS thread, recall@10 against the Flat results."""
    import faiss

    n = len(vectors)
    ids = np.arange(n, dtype=np.int64)
    out: dict = {"vectors": n}
    faiss.omp_set_num_threads(build_threads)
    started = time.perf_counter()
    flat = new_flat(vectors.shape[1])
    flat.add_with_ids(vectors, ids)
    out["flat"] = {"build_s": round(time.perf_counter() - started, 2)}
    _, exact = flat.search(queries, K)  # ground truth, all threads
    faiss.omp_set_num_threads(1)
    durations, found = _search_each(flat, queries)
    out["flat"].update(latency(durations), recall_at_10=recall_at_k(found, exact))
    del flat

    faiss.omp_set_num_threads(build_threads)
    nlist = policy.nlist_for(n)
    started = time.perf_counter()
    ivf = train_ivf(sample_rows(vectors, TRAIN_PER_LIST * nlist), nlist, policy.nprobe)
    trained = time.perf_counter() - started
    ivf.add_with_ids(vectors, ids)
    out["ivf"] = {"nlist": int(ivf.nlist), "train_s": round(trained, 2), "build_s": round(time.perf_counter() - started, 2),
                  "served_nprobe": policy.nprobe, "by_nprobe": {}}
    faiss.omp_set_num_threads(1)
    for nprobe in nprobes:
        ivf.nprobe = nprobe
        durations, found = _search_each(ivf, queries)
        out["ivf"]["by_nprobe"][str(nprobe)] = {**latency(durations), "recall_at_10": recall_at_k(found, exact)}
    del ivf

    if hnsw:
        faiss.omp_set_num_threads(build_threads)
        started = time.perf_counter()
        graph = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = 40
        graph.add(vectors)
        out["hnsw32"] = {"build_s": round(time.perf_counter() - started, 2), "by_ef_search": {},
                         "deletes": "none (remove_ids unsupported)"}
        faiss.omp_set_num_threads(1)
        for ef in (32, 64, 128):
            graph.hnsw.efSearch = ef
            durations, found = _search_each(graph, queries)
            out["hnsw32"]["by_ef_search"][str(ef)] = {**latency(durations), "recall_at_10": recall_at_k(found, exact)}
        del graph
    return out


def run_vectors(base: np.ndarray, queries: np.ndarray, sizes: Sequence[int], policy: IndexPolicy,
                hnsw_max: int, build_threads: int = 2) -> dict:
    """Each size in ``sizes``: noisy copies of ``base`` (real embeddings) searched with ``queries`` (real
    question embeddings)."""
    result = {"base_vectors": len(base), "noise_norm": NOISE, "queries": len(queries), "k": K, "sizes": []}
    nprobes = sorted({8, 16, policy.nprobe, 64})
    for n in sizes:
        vectors = noisy_copies(base, n)
        result["sizes"].append(measure_size(vectors, queries, policy, nprobes, n <= hnsw_max, build_threads))
        del vectors
    return result
