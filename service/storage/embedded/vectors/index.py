"""FAISS inner-product index over chunk ids (Flat or IVF), saved with a versioned header and replaced atomically."""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from service.errors import IndexMismatch
from service.storage.embedded.vectors.kinds import FLAT, IVF, KINDS, new_flat

MAGIC = b"MEMOIDX\x00"
# 2: the header carries a sha256 of the FAISS payload (v1 files are rebuilt from the store).
FORMAT_VERSION = 2


@dataclass(frozen=True)
class IndexHeader:
    """What an index file claims to hold; load refuses a file whose header does not match the store,
    or whose payload does not hash to ``checksum``."""

    format_version: int
    model: str
    dimension: int
    count: int
    generation: int
    kind: str = FLAT
    checksum: str = ""
    nlist: int = 0  # IVF: inverted lists, probes per search, vectors it was trained for
    nprobe: int = 0
    trained_for: int = 0


class VectorIndex:
    """Inner-product search (vectors are normalised, so scores are cosines) with deletable ids: exact
    (``flat-ip``, FAISS IndexIDMap2(IndexFlatIP)) or inverted lists (``ivf-flat-ip``, IndexIVFFlat, which
    keeps ids itself and removes them in place).

    Thread-safe: one lock around every FAISS call, so a search never sees a half-applied change.
    """

    def __init__(self, model: str, dimension: int, index=None, kind: str = FLAT, trained_for: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"index kind {kind!r}; expected one of {KINDS}")
        self.model = model
        self.dimension = dimension
        self.kind = kind
        self.trained_for = trained_for
        self._index = index if index is not None else new_flat(dimension)
        self._lock = threading.Lock()


    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: Iterable[int], vectors: np.ndarray) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dimension):
            raise ValueError(f"expected {len(ids)}x{self.dimension} vectors, got {vectors.shape}")
        with self._lock:
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Iterable[int]) -> int:
        import faiss

        ids = np.asarray(list(ids), dtype=np.int64)
        if len(ids) == 0:
            return 0
        with self._lock:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) pairs; ``allowed`` restricts the search to those ids."""
        import faiss

        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self.dimension)
        params = None
        if allowed is not None and len(allowed) == 0:
            return []
        with self._lock:
            total = len(self)
            k = min(k, total)
            if k <= 0:
                return []
            selector = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            if self.kind == IVF:
                # A filter keeps a share of each list: probe more lists, so about as many allowed vectors
                # are compared as an unfiltered search compares (rejected ids cost only a set lookup).
                probes = self._index.nprobe
                if allowed is not None:
                    probes = min(self._index.nlist, math.ceil(probes * total / max(len(allowed), 1)))
                params = faiss.SearchParametersIVF(sel=selector, nprobe=probes)
            elif selector is not None:
                params = faiss.SearchParameters(sel=selector)
            scores, ids = self._index.search(query, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def header(self, generation: int) -> IndexHeader:
        if self.kind == IVF:
            return IndexHeader(FORMAT_VERSION, self.model, self.dimension, len(self), generation, IVF,
                               nlist=int(self._index.nlist), nprobe=int(self._index.nprobe),
                               trained_for=self.trained_for)
        return IndexHeader(FORMAT_VERSION, self.model, self.dimension, len(self), generation)

    def ids(self) -> np.ndarray:
        """The ids held, ascending."""
        import faiss

        with self._lock:
            if self.kind == FLAT:
                return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))
            lists = self._index.invlists
            parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).astype(np.int64)
                     for i in range(self._index.nlist) if lists.list_size(i)]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def save(self, path: Path, generation: int) -> None:
        """Write header + index to a temporary file, fsync it, then ``os.replace`` it into place."""
        import faiss

        with self._lock:
            payload = faiss.serialize_index(self._index)
            header = self.header(generation)
        checksum = hashlib.sha256(payload.tobytes()).hexdigest()
        header = json.dumps(asdict(replace(header, checksum=checksum))).encode()
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC)
                f.write(struct.pack("<I", len(header)))
                f.write(header)
                f.write(payload.tobytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_header(path: Path) -> IndexHeader:
    """The header of an index file (IndexMismatch if it is not one of ours)."""
    with open(path, "rb") as f:
        return _read_header(f, path)


def _read_header(f, path: Path) -> IndexHeader:
    if f.read(len(MAGIC)) != MAGIC:
        raise IndexMismatch(f"{path} is not a memo index file")
    size = f.read(4)
    if len(size) < 4:
        raise IndexMismatch(f"{path}: truncated header")
    try:
        return IndexHeader(**json.loads(f.read(struct.unpack("<I", size)[0])))
    except (TypeError, ValueError) as exc:
        raise IndexMismatch(f"{path}: unreadable header ({exc})") from None


def load_index(path: Path, expected: IndexHeader) -> VectorIndex:
    """Load an index file, refusing it loudly (IndexMismatch) unless its header equals ``expected`` in
    format, model, dimension, count and generation, and it passes ``read_index``'s checks."""
    index, header = read_index(path)
    fields = ("format_version", "model", "dimension", "count", "generation")
    if any(getattr(header, f) != getattr(expected, f) for f in fields):
        raise IndexMismatch(f"{path}: header {asdict(header)} does not match the store {asdict(expected)}")
    return index


def read_index(path: Path) -> tuple[VectorIndex, IndexHeader]:
    """An index file and its header, refused loudly (IndexMismatch) unless it is of this format version,
    the payload hashes to the header's checksum, and the payload is the kind, count and dimension the
    header says. A damaged payload never reaches FAISS's deserializer."""
    import faiss

    with open(path, "rb") as f:
        header = _read_header(f, path)
        if header.format_version != FORMAT_VERSION:
            raise IndexMismatch(f"{path}: format version {header.format_version}, this service reads {FORMAT_VERSION}")
        if header.kind not in KINDS:
            raise IndexMismatch(f"{path}: unknown index kind {header.kind!r}")
        raw = f.read()
    if hashlib.sha256(raw).hexdigest() != header.checksum:
        raise IndexMismatch(f"{path}: payload checksum does not match its header")
    payload = np.frombuffer(raw, dtype=np.uint8)
    try:
        index = faiss.deserialize_index(payload)
    except RuntimeError as exc:
        raise IndexMismatch(f"{path}: corrupt FAISS payload ({exc})") from None
    if index.ntotal != header.count or index.d != header.dimension:
        raise IndexMismatch(f"{path}: payload holds {index.ntotal}x{index.d}, header says {header.count}x{header.dimension}")
    expected_type = faiss.IndexIDMap2 if header.kind == FLAT else faiss.IndexIVFFlat
    if not isinstance(index, expected_type):
        raise IndexMismatch(f"{path}: payload is a {type(index).__name__}, header says {header.kind}")
    return VectorIndex(header.model, header.dimension, index, header.kind, header.trained_for), header
