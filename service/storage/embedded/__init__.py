"""The embedded backend: one data dir holding a SQLite file (the truth) and a FAISS index (derived), owned by
one process."""
from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from service.storage.base import VectorSpace
from service.storage.shared import check_space
from service.storage.embedded.brief_cache import SqliteBriefs
from service.storage.embedded.chunks import SqliteChunks
from service.storage.embedded.database import Database
from service.storage.embedded.entity_tables import SqliteEntities
from service.storage.embedded.fts import Fts
from service.storage.embedded.job_tables import SqliteJobs
from service.storage.embedded.lock import DataDirLock
from service.storage.embedded.repository import SqliteMemos
from service.storage.embedded.schema import create_schema
from service.storage.embedded.vectors.kinds import IndexPolicy
from service.storage.embedded.vectors.keeper import VectorKeeper


DB_FILE = "memos.sqlite3"
INDEX_FILE = "index.faiss"
LOCK_FILE = "lock"


@dataclass(frozen=True)
class EmbeddedSettings:
    data_dir: Path
    index: IndexPolicy = field(default_factory=IndexPolicy)
    index_save_s: float = 10.0  # unsaved index changes are written at most this often (0: at every write)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "EmbeddedSettings":
        return cls(Path(config["DATA_DIR"]),
                   IndexPolicy(flat_max=int(config["INDEX_FLAT_MAX"]), nprobe=int(config["INDEX_NPROBE"])),
                   float(config["INDEX_SAVE_S"]))


def check_data_dir(config: Mapping[str, Any]) -> None:
    """Refuse (DataDirLocked) when another process holds the data dir, before anything loads."""
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    DataDirLock(data_dir / LOCK_FILE).release()


class EmbeddedStorage:
    """``Storage`` over a data dir: SQLite (WAL) is the source of truth; FAISS and the BM25 copy follow each
    committed write under one write lock."""

    backend = "sqlite"

    def __init__(self, settings: EmbeddedSettings, space: VectorSpace) -> None:
        import faiss

        # Measured: one FAISS thread per query is faster than two on this class of machine.
        faiss.omp_set_num_threads(1)
        self.settings = settings
        self.space = space
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = DataDirLock(data_dir / LOCK_FILE)
        self.write_lock = threading.Lock()
        try:
            self.db = Database(data_dir / DB_FILE)
            create_schema(self.db)
            self.fts = Fts(self.db)
            self.chunks = SqliteChunks(self.db, self.fts, space.dimension)
            self.keeper = VectorKeeper(data_dir / INDEX_FILE, self.db, self.chunks, space.model, settings.index,
                                       settings.index_save_s, self.write_lock)
            self.chunks.keeper = self.keeper
            self.memos = SqliteMemos(self.db, self.fts, self.keeper, self.write_lock, space.dimension)
            self.entities = SqliteEntities(self.db)
            self.briefs = SqliteBriefs(self.db)
            self.jobs = SqliteJobs(self.db)
            self.leases = None  # one process owns the data dir: its jobs run in it
            self._reembedding = self._check_space()
            if self._reembedding:
                self.keeper.start_empty()
            else:
                self.keeper.open()
        except BaseException:
            self._lock_file.release()
            raise

    def _check_space(self) -> bool:
        """Whether the stored vectors come from another model (the engine must embed every memo again)."""
        return check_space(self.db.get_meta, self.db.set_meta, lambda: self.counts_sql()["memos"] > 0, self.space)

    # -- Storage ---------------------------------------------------------------------------------------

    def needs_reembedding(self) -> bool:
        return self._reembedding

    def reembedded(self) -> None:
        """Every memo now carries vectors of ``space``."""
        self.db.set_meta("embedder", self.space.mark)
        self._reembedding = False
        self.keeper.resume()

    def snapshot(self) -> AbstractContextManager[None]:
        return self.db.snapshot()

    def get_meta(self, key: str) -> str | None:
        return self.db.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db.set_meta(key, value)

    def counts_sql(self) -> dict[str, int]:
        conn = self.db.connection()
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("memos", "chunks", "sentences")}

    def counts(self) -> dict[str, int]:
        return {**self.counts_sql(), "vectors": len(self.keeper.index)}

    def status(self) -> dict[str, str]:
        """``lexical_index``: ``ready`` once BM25 comes from the in-memory copy, ``filling`` while FTS5 stands in."""
        return {"lexical_index": "ready" if self.fts.ready() else "filling"}

    def warm(self) -> None:
        self.fts.start()

    def flush(self) -> None:
        self.keeper.flush()

    def close(self) -> None:
        self.keeper.close()
        self.fts.close()
        self.db.close()
        self._lock_file.release()
