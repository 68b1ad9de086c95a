"""The PostgreSQL backend: memos, vectors (pgvector HNSW), BM25 postings, entities, briefs and jobs in one
database that any number of service processes share. Selected by ``MEMO_DATABASE_URL=postgresql://...``."""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Mapping

from service.storage.base import VectorSpace
from service.storage.shared import check_space
from service.storage.postgres.brief_cache import PgBriefs
from service.storage.postgres.chunks import PgChunks
from service.storage.postgres.database import Database
from service.storage.postgres.entity_tables import PgEntities
from service.storage.postgres.job_tables import PgJobs
from service.storage.postgres.repository import PgMemos
from service.storage.postgres.schema import migrate


@dataclass(frozen=True)
class PostgresSettings:
    url: str
    pool_min: int = 1
    pool_max: int = 10
    timeout_s: float = 5.0  # waiting for a pooled connection (or for the server at start) before giving up
    ef_search: int = 100  # HNSW candidates per search (at least k)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PostgresSettings":
        return cls(str(config["DATABASE_URL"]), int(config.get("DATABASE_POOL_MIN", 1)),
                   int(config.get("DATABASE_POOL_MAX", 10)), float(config.get("DATABASE_TIMEOUT_S", 5.0)),
                   int(config.get("DATABASE_EF_SEARCH", 100)))


class PostgresStorage:
    """``Storage`` over one PostgreSQL database: every write is one transaction, every search runs in the
    database, so what one process commits every other process finds at once. No data-dir lock."""

    backend = "postgres"

    def __init__(self, settings: PostgresSettings, space: VectorSpace) -> None:
        self.settings = settings
        self.space = space
        self.schema_version = migrate(settings.url, space.dimension)
        self.db = Database(settings.url, settings.pool_min, settings.pool_max, settings.timeout_s)
        try:
            self.memos = PgMemos(self.db, space.dimension)
            self.chunks = PgChunks(self.db, space.dimension, settings.ef_search)
            self.entities = PgEntities(self.db)
            self.briefs = PgBriefs(self.db)
            self.jobs = PgJobs(self.db)
            self.leases = self.jobs
            self._reembedding = self._check_space()
        except BaseException:
            self.db.close()
            raise

    def _check_space(self) -> bool:
        return check_space(self.db.get_meta, self.db.set_meta, lambda: self.counts()["memos"] > 0, self.space)

    # -- Storage ---------------------------------------------------------------------------------------

    def needs_reembedding(self) -> bool:
        return self._reembedding

    def reembedded(self) -> None:
        self.db.set_meta("embedder", self.space.mark)
        self._reembedding = False

    def snapshot(self) -> AbstractContextManager[None]:
        return self.db.snapshot()

    def get_meta(self, key: str) -> str | None:
        return self.db.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.db.set_meta(key, value)

    def counts(self) -> dict[str, int]:
        row = self.db.one("SELECT (SELECT count(*) FROM memos), (SELECT count(*) FROM chunks), "
                          "(SELECT count(*) FROM sentences), (SELECT count(embedding) FROM chunks)")
        assert row is not None
        return dict(zip(("memos", "chunks", "sentences", "vectors"), map(int, row)))

    def status(self) -> dict[str, str]:
        """BM25 is computed in the database from postings written with each memo: always ``ready``."""
        return {"lexical_index": "ready"}

    def warm(self) -> None:
        """Nothing to fill: every index lives in the database."""

    def flush(self) -> None:
        """Nothing is kept in memory: every write has committed."""

    def close(self) -> None:
        self.db.close()


def open_postgres(config: Mapping[str, Any], space: VectorSpace) -> PostgresStorage:
    return PostgresStorage(PostgresSettings.from_config(config), space)
