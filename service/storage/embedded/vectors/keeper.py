"""The FAISS index of one data dir, kept in step with SQLite: opened and checked (or caught up, or rebuilt)
at start, changed after each write's commit, rebuilt when its kind no longer suits its size, saved in the
background."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from service.errors import IndexMismatch
from service.storage.embedded.chunks import SqliteChunks
from service.storage.embedded.database import Database
from service.storage.embedded.vectors.index import VectorIndex, read_index
from service.storage.embedded.vectors.kinds import IndexPolicy
from service.storage.embedded.vectors.saver import IndexSaver
from service.storage.embedded.vectors.upkeep import build_index, catch_up

log = logging.getLogger(__name__)


class VectorKeeper:
    """Owns ``index``; every change happens under ``write_lock`` (the backend's), after the commit it mirrors."""

    def __init__(self, path: Path, db: Database, chunks: SqliteChunks, model: str, policy: IndexPolicy,
                 save_s: float, write_lock: threading.Lock) -> None:
        self.path = Path(path)
        self._db = db
        self._chunks = chunks
        self.model = model
        self.policy = policy
        self._write_lock = write_lock
        self.index = VectorIndex(model, chunks.dimension)
        self._held = False  # rebuilds wait while the store holds two models' vectors (start_empty .. resume)
        self._saver = IndexSaver(self._save_now, save_s)

    def open(self) -> None:
        """The saved index, checked against the store and caught up with it; rebuilt when it cannot be."""
        self.index = self._open()

    def start_empty(self) -> None:
        """An empty index: every stored vector is about to be replaced (the store is being re-embedded).
        Until ``resume`` no rebuild reads the store, whose vectors may be of another dimension meanwhile."""
        self.index = VectorIndex(self.model, self._chunks.dimension)
        self._held = True

    def resume(self) -> None:
        """The store holds this model's vectors only: the index rebuilt from them (the kind that suits its
        size) and saved now."""
        with self._write_lock:
            self._held = False
            self.rebuild()

    def _open(self) -> VectorIndex:
        # Temporary files of saves a crash interrupted; nobody else writes here (the data-dir lock).
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            log.info("removing %s, left by an interrupted index save", stale.name)
            stale.unlink(missing_ok=True)
        try:
            index, header = read_index(self.path)
            generation = self._db.generation()
            if (header.model, header.dimension) != (self.model, self._chunks.dimension):
                raise IndexMismatch(f"{self.path}: made by {header.model}/{header.dimension}, not "
                                    f"{self.model}/{self._chunks.dimension}")
            if header.generation > generation:
                raise IndexMismatch(f"{self.path}: generation {header.generation} is ahead of the store's {generation}")
            if header.generation == generation:
                if not np.array_equal(index.ids(), self._chunks.all_ids()):
                    raise IndexMismatch(f"{self.path}: its ids are not the store's chunk ids")
            else:
                added, removed = catch_up(index, self._chunks)
                log.info("catching the index up with the store (generation %d -> %d): %d vectors added, %d removed",
                         header.generation, generation, added, removed)
            if self.policy.needs_rebuild(index.kind, index.trained_for, len(index)):
                log.info("a %s index no longer suits %d vectors: rebuilding it", index.kind, len(index))
                return self.rebuild()
            if header.generation != generation:
                index.save(self.path, generation)
            return index
        except FileNotFoundError:
            log.info("no index file yet: building it from the store")
        except IndexMismatch as exc:
            log.warning("rebuilding the index from the store: %s", exc.detail)
        return self.rebuild()

    def rebuild(self) -> VectorIndex:
        """A fresh index (of the kind the policy picks for the store's size) from the embeddings in SQLite
        (no re-embedding), saved atomically."""
        index = build_index(self._chunks, self.model, self.policy)
        index.save(self.path, self._db.generation())
        self.index = index
        return index

    def apply(self, removed: list[int], added: list[int], vectors: np.ndarray | None) -> None:
        """A committed write's change; callers hold the write lock. Rebuilds when the index kind no longer
        suits its size (searches go on with the old one meanwhile)."""
        self.index.remove(removed)
        if vectors is not None:
            self.index.add(added, vectors)
        if not self._held:
            self._fit()

    def _fit(self) -> None:
        if self.policy.needs_rebuild(self.index.kind, self.index.trained_for, len(self.index)):
            log.info("a %s index no longer suits %d vectors: rebuilding it", self.index.kind, len(self.index))
            self.rebuild()

    def changed(self) -> None:
        """After ``apply``, with the write lock released: save now (``save_s`` 0) or soon."""
        self._saver.changed()

    def _save_now(self) -> None:
        """Write the index with the store's generation it reflects."""
        with self._write_lock:
            self.index.save(self.path, self._db.generation())

    def flush(self) -> None:
        """Write the index now if it has unsaved changes."""
        self._saver.flush()

    def close(self) -> None:
        self._saver.stop()
