"""The storage seam: what the engine and the stages need from a backend, as protocols.

A backend (``storage/embedded``: SQLite + FAISS in a data dir; a server database later) implements them
all and hands them out as one ``Storage``. The engine and the stages import only this module and
``service.types``; they never see SQL, FAISS or a connection. docs/architecture.md maps each protocol
to the backends.

Rules every backend keeps:
- A write is one transaction. When ``MemoRepository.add``/``replace``/``delete`` return, the memo, its
  sentences, chunks, vectors, entities and lexical postings are committed together, and every search
  that starts afterwards sees them (the backend keeps its own search structures in step).
- The content hash is unique: the same text stored twice is one memo, whoever races.
- Chunk ids are never reused, so an id found by a search can never point at another memo's text.
- Reads inside ``Storage.snapshot()`` see one committed state.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np

from models.nlp.entities import Entity
from service.types import ChunkRef, Facets, Job, JobItem, Memo, MemoFilter, MemoInfo, PreparedMemo, SentenceRows


@dataclass(frozen=True)
class VectorSpace:
    """The embedding model a store's vectors come from: a backend refuses or rebuilds vectors of another."""

    model: str
    dimension: int

    @property
    def mark(self) -> str:
        return f"{self.model}/{self.dimension}"


class MemoRepository(Protocol):
    """Memos and their parts: the source of truth."""

    def add(self, memo_id: str, memo: PreparedMemo) -> tuple[Memo, bool]:
        """Store a memo and its parts under ``memo_id``; ``(stored memo, True)``. When a memo with the same
        content hash is stored already (even one committed a moment ago by another writer), nothing is
        written and that memo comes back with False."""

    def replace(self, memo_id: str, memo: PreparedMemo) -> Memo:
        """Swap a memo's text and parts in one transaction (its cached briefs go). NotFound when there is no
        such memo; Conflict when another memo holds the new text."""

    def delete(self, memo_id: str) -> bool:
        """Remove a memo and everything hanging off it; False when there was none."""

    def get(self, memo_id: str) -> Memo | None: ...

    def find_by_hash(self, content_hash: str) -> Memo | None: ...

    def infos(self, memo_ids: Sequence[str]) -> dict[str, MemoInfo]:
        """Metadata of several memos; unknown ids are absent from the result."""

    def text(self, memo_id: str) -> str | None: ...

    def page(self, where: MemoFilter, limit: int, offset: int) -> tuple[list[MemoInfo], int]:
        """A page of the memos that pass ``where``, newest date first (undated last, then newest stored),
        and how many pass."""

    def sentences(self, memo_id: str, first: int = 0, last: int | None = None) -> SentenceRows:
        """Sentences ``first..last`` (inclusive) of a memo with their embeddings, in order. A sentence whose
        vector is not computed yet (ingest defers them, ``service.ingest.deferred``) has a row of zeros."""

    def unembedded(self, limit: int) -> list[str]:
        """Up to ``limit`` ids of memos with a sentence whose vector is still all zeros."""

    def fill_sentences(self, memo_id: str, content_hash: str, rows: Sequence[tuple[int, int, int, np.ndarray]]
                       ) -> int:
        """Store ``(idx, start, end, vector)`` for sentences whose vector is still all zeros, while the memo
        still has the text of ``content_hash`` (a memo replaced meanwhile keeps its own); how many rows
        changed."""

    def facets(self, where: MemoFilter, entity_limit: int) -> Facets:
        """How the memos that pass ``where`` split by type, year and tag, and the entities most mention."""


class ChunkSearch(Protocol):
    """Chunks found by meaning and by words. Both rankings come from the backend; fusing them is shared
    code (``service.retrieval``), so every backend fuses the same way."""

    def dense(self, vector: np.ndarray, k: int, where: MemoFilter) -> list[tuple[int, float]]:
        """The ``k`` chunks (id, cosine) nearest ``vector`` among the memos that pass ``where``, best first."""

    def lexical(self, words: Sequence[str], k: int, where: MemoFilter) -> list[tuple[int, float]]:
        """The ``k`` chunks (id, BM25 score) that best match any of ``words``, best first, among the memos
        that pass ``where``. BM25 with ``service.lexical``'s terms, K1 and B."""

    def frequencies(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        """How many chunks there are, and how many of them hold each (``service.lexical.stem``) term."""

    def refs(self, ids: Sequence[int]) -> dict[int, ChunkRef]:
        """Where some chunks sit; ids no longer stored are absent."""

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored embeddings of some chunks; ids no longer stored are absent."""


class EntityStore(Protocol):
    """The people, places and organisations each memo mentions (written with the memo by ``add``, or after
    it by ``put`` when ingest deferred them)."""

    def of_memo(self, memo_id: str) -> list[Entity]:
        """A memo's kept mentions, in text order."""

    def stale(self, extractor: str, memo_ids: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """``(memo id, content hash)`` of memos never read by ``extractor``, or changed since, oldest first
        (only among ``memo_ids`` when given). A memo acknowledged before its entities are read is one of
        them until they are (``service.ingest.entities.EntityReader``)."""

    def put(self, memo_id: str, entities: Iterable[Entity], extractor: str, content_hash: str) -> bool:
        """Replace a memo's entities if it still holds the text ``content_hash``; False when it does not."""


class BriefCache(Protocol):
    """Briefs keyed by content hash, method and size; what is missing for a method is the brief queue."""

    def get(self, content_hash: str, method: str, max_sentences: int) -> dict | None: ...

    def put(self, content_hash: str, method: str, max_sentences: int, body: dict) -> None: ...

    def next_pending(self, method: str, max_sentences: int, skip: set[str]) -> str | None:
        """The oldest memo (ids in ``skip`` aside) with no cached brief of ``method`` for its current text."""

    def writing(self, content_hash: str, method: str) -> AbstractContextManager[bool]:
        """``with briefs.writing(hash, method) as mine:`` True when no other process is writing that brief
        now (it is then this one's until the block ends, or the process dies); always True where one
        process owns the store."""


class JobStore(Protocol):
    """Batches of memos accepted for ingest: the texts are kept until each is stored, so an acknowledged
    batch survives a crash; what is unfinished is the work queue."""

    def create(self, job_id: str, items: Sequence[tuple[str, dict]]) -> Job:
        """Store a batch (all its texts) in one transaction, every item ``queued``."""

    def get(self, job_id: str) -> Job | None: ...

    def pending(self, job_id: str, limit: int) -> list[JobItem]:
        """Up to ``limit`` items of a job still ``queued``, in batch order."""

    def finish_items(self, job_id: str, results: Sequence[tuple[int, str | None, str | None]]) -> None:
        """Record ``(index, memo_id, error)`` per item: indexed when it has a memo id, else failed; the
        stored text of a finished item is dropped. The job becomes ``running``, then ``done`` with its last item."""

    def unfinished(self) -> list[str]:
        """Ids of jobs with queued items, oldest first (to resume after a restart)."""


class JobLeases(Protocol):
    """Job items shared by worker processes on other hosts (the worker tier): an item is claimed under a
    lease, an expiry set by the database's clock that its owner renews while it works. What is still queued
    with no live owner (a worker killed, a task lost with the broker) the sweeper sends again."""

    def create(self, job_id: str, items: Sequence[tuple[str, dict]], hashes: Sequence[str] | None = None) -> Job:
        """``JobStore.create``, each item with the content hash its task will carry."""

    def claim(self, job_id: str, wanted: Sequence[tuple[int, str | None]], owner: str, lease_s: float
              ) -> list[JobItem]:
        """Take the items ``(index, content hash)`` that are queued and held by no live lease, for ``owner``
        until ``lease_s`` from now; the job becomes ``running``. Items finished or held elsewhere are left."""

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every lease ``owner`` holds to ``lease_s`` from now; how many."""

    def release(self, job_id: str, indexes: Sequence[int], owner: str) -> None:
        """Give up ``owner``'s leases on some items (its task failed): they wait for the sweeper."""

    def sweep(self, requeue_after_s: float | None, max_attempts: int) -> dict[str, list[tuple[int, str | None]]]:
        """Items to send again, by job: queued with a lease that ran out, and (``requeue_after_s`` given:
        the broker holds nothing) queued with no lease and sent longer ago than that. Items claimed
        ``max_attempts`` times already fail instead. One sweeper at a time across processes; {} for the others."""


class Storage(Protocol):
    """One backend's repositories, opened together. ``backend`` names it in ``/health``. ``leases`` is None
    where one process owns the store (the embedded backend): jobs then run in that process."""

    backend: str
    memos: MemoRepository
    chunks: ChunkSearch
    entities: EntityStore
    briefs: BriefCache
    jobs: JobStore
    leases: JobLeases | None

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside see one committed state. No writes inside."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def needs_reembedding(self) -> bool:
        """Whether the stored vectors come from another model than the one it was opened for: the engine
        then embeds every memo again (``MemoRepository.replace``) and calls ``reembedded()``."""

    def reembedded(self) -> None:
        """Every memo now carries vectors of the opened model."""

    def counts(self) -> dict[str, int]:
        """``memos``, ``chunks``, ``sentences`` and ``vectors`` (chunks == vectors when all is well)."""

    def status(self) -> dict[str, str]:
        """Backend state worth showing in ``/health`` (e.g. ``lexical_index``: ready | filling)."""

    def warm(self) -> None:
        """Start filling caches in the background (a server calls it at start-up; optional)."""

    def flush(self) -> None:
        """Persist what the backend keeps in memory (after a bulk load); a no-op where nothing is."""

    def close(self) -> None: ...
