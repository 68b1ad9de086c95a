"""Which FAISS index for how many vectors: exact Flat while small, IVF (trained on the stored vectors) beyond."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLAT = "flat-ip"
IVF = "ivf-flat-ip"
KINDS = (FLAT, IVF)
# training vectors per inverted list
TRAIN_PER_LIST = 32


@dataclass(frozen=True)
class IndexPolicy:
    """Figures from ``python -m bench`` (docs/performance.md): exact search stays fast enough up to ``flat_max``
    vectors; IVF with ``nlist = lists_per_sqrt * sqrt(n)`` lists and ``nprobe`` probes keeps recall@10
    against exact search >= 0.95 at 100k and 1M vectors."""

    flat_max: int = 30_000
    nprobe: int = 32
    lists_per_sqrt: float = 4.0
    # an IVF index is trained again (more lists) once it holds this many times the vectors it was trained on
    regrow: float = 4.0

    def kind_for(self, count: int) -> str:
        return FLAT if count <= self.flat_max else IVF

    def nlist_for(self, count: int) -> int:
        return max(16, int(self.lists_per_sqrt * math.sqrt(max(count, 1))))

    def needs_rebuild(self, kind: str, trained_for: int, count: int) -> bool:
        """Whether an index of ``kind`` (an IVF one trained on ``trained_for`` vectors) no longer suits
        ``count`` vectors. IVF goes back to Flat only below half the threshold, so a store that hovers
        around it is not rebuilt back and forth."""
        if kind == FLAT:
            return count > self.flat_max
        return count < self.flat_max // 2 or count > self.regrow * max(trained_for, 1)


def new_flat(dimension: int):
    """Exact inner product over ids we choose (deletes compact the arrays)."""
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def train_ivf(sample: np.ndarray, nlist: int, nprobe: int):
    """An empty IVF-Flat inner-product index whose ``nlist`` centroids are k-means (10 rounds) of
    ``sample``; ``TRAIN_PER_LIST`` vectors per list are plenty for probing (FAISS's own cap is 256)."""
    import faiss

    dimension = sample.shape[1]
    nlist = max(1, min(nlist, len(sample) // 8 or 1))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.max_points_per_centroid = TRAIN_PER_LIST
    index.cp.min_points_per_centroid = 1
    index.cp.niter = 10
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.nprobe = min(nprobe, nlist)
    index.own_fields = True
    quantizer.this.disown()
    return index


def sample_rows(vectors: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """At most ``limit`` rows of ``vectors``, drawn without replacement (all of them when fewer)."""
    if len(vectors) <= limit:
        return vectors
    rng = np.random.default_rng(seed)
    return vectors[np.sort(rng.choice(len(vectors), size=limit, replace=False))]
