"""The values that travel between the stages: memos and their parts, filters, retrieved chunks and
passages, answers with citations, facet counts. Frozen dataclasses, no behaviour beyond a check or two."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.nlp.entities import Entity

Span = tuple[int, int]


# -- memos -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoDraft:
    """A validated memo, ready to be chunked and stored."""

    text: str
    title: str
    content_hash: str
    body_start: int
    sentences: tuple[Span, ...]
    date: str | None = None
    type: str | None = None
    source: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Chunk:
    """``text[start:end]`` covers sentences ``first`` to ``last`` (inclusive) of the memo."""

    start: int
    end: int
    first: int
    last: int


@dataclass(frozen=True)
class PreparedMemo:
    """A memo cut into sentences and chunks, with their embeddings: everything one store write needs."""

    draft: MemoDraft
    sentences: list[Span]
    sentence_vectors: np.ndarray
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    entities: tuple[Entity, ...] = ()
    entity_extractor: str | None = None  # None: entities not extracted yet (the start-up backfill will)


@dataclass(frozen=True)
class MemoInfo:
    """A memo's metadata (what lists show)."""

    id: str
    title: str
    date: str | None
    type: str | None
    source: str | None
    tags: tuple[str, ...]
    content_hash: str
    chars: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Memo(MemoInfo):
    """A memo with its text; every offset the service returns indexes into ``text``."""

    text: str = ""
    body_start: int = 0


@dataclass(frozen=True)
class MemoFilter:
    """Which memos a search or list may see: plain data that each storage backend translates. Empty fields
    do not filter; ``memo_ids=()`` admits no memo."""

    memo_ids: tuple[str, ...] | None = None
    date_from: str | None = None
    date_to: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)  # any of them, lower-cased by the backend
    type: str | None = None
    entities: tuple[str, ...] = field(default_factory=tuple)  # all of them, case-insensitive whole words

    def is_empty(self) -> bool:
        return self.memo_ids is None and not (self.date_from or self.date_to or self.tags or self.type or self.entities)


@dataclass(frozen=True)
class SentenceRows:
    """Some sentences of one memo: ``spans[i]`` is ``(idx, start, end)`` and ``vectors[i]`` its embedding."""

    spans: list[tuple[int, int, int]]
    vectors: np.ndarray


# -- retrieval -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkRef:
    """Where a stored chunk sits: ``memo.text[start:end]``, sentences ``first..last``."""

    id: int
    memo_id: str
    start: int
    end: int
    first: int
    last: int


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: ``memo.text[start:end]`` spans sentences ``first..last``. ``score`` is the fused
    rank score; ``dense`` the chunk's cosine similarity to the question."""

    chunk_id: int
    memo_id: str
    start: int
    end: int
    first: int
    last: int
    score: float
    dense: float


@dataclass(frozen=True)
class Passage:
    """A candidate sentence: ``text == memo.text[start:end]``; ``context`` is its chunk's retrieval score."""

    memo_id: str
    start: int
    end: int
    text: str
    vector: np.ndarray
    context: float


# -- answers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    memo_id: str
    start: int
    end: int
    quote: str
    score: float


@dataclass(frozen=True)
class Answer:
    """``answer`` is None when the memos do not support one; ``citations[0]`` is its source otherwise."""

    answer: str | None
    confidence: float
    abstained: bool
    citations: tuple[Citation, ...]
    span: Citation | None = None
    mode: str = "extractive"
    generated: str | None = None  # generative mode: what the model wrote, before grounding
    grounding: str | None = None  # generative mode: grounded | extractive-fallback | abstained


# -- facets --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    value: str | None
    memos: int


@dataclass(frozen=True)
class EntityFacet:
    """An entity name, its label, and how many memos (among those filtered) mention it."""

    text: str
    label: str
    memos: int


@dataclass(frozen=True)
class Facets:
    total: int
    types: tuple[Count, ...]
    years: tuple[Count, ...]  # newest first; value None counts the undated memos
    tags: tuple[Count, ...]
    entities: tuple[EntityFacet, ...]


# -- jobs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobItem:
    """One memo of a batch: its text and metadata until it is stored; then its memo id (``indexed``) or why
    it could not be (``failed``)."""

    index: int
    text: str
    meta: dict
    status: str = "queued"  # queued | indexed | failed
    memo_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Job:
    """A batch of memos being ingested: ``queued`` → ``running`` → ``done`` (every item indexed or failed);
    ``failed`` when the job itself broke (its items say how far it got)."""

    id: str
    status: str
    total: int
    done: int
    failed: int
    errors: tuple[dict, ...]
    memo_ids: tuple[str | None, ...]  # in batch order; None until an item is indexed
    items: tuple[str, ...]  # each item's status, in batch order
    created_at: str
    updated_at: str
