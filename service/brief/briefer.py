"""Briefs of stored memos and of loose texts, extractive or abstractive, cached by content hash and method."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from models import TextModels
from service.brief import key_sentences as briefing
from service.brief import lead
from service.brief.abstractive import AbstractiveBrief
from service.errors import ModelOff, NotFound
from service.ingest.deferred import complete
from service.ingest.prepare import Preparer
from service.storage.base import Storage
from service.types import Memo
from service.llm.writer import Writer, brief_from_dict

EXTRACTIVE = "extractive"
ABSTRACTIVE = "abstractive"
MODES = (EXTRACTIVE, ABSTRACTIVE)
PRECOMPUTED_SENTENCES = 3  # the worker's briefs: the default size, which the page and the API serve

Span = tuple[int, int]
AnyBrief = briefing.Brief | AbstractiveBrief


class Briefer:
    """Writes and caches briefs over one storage backend (its brief cache, its memos' sentences)."""

    def __init__(
        self,
        storage: Storage,
        models: TextModels,
        settings: briefing.BriefSettings,
        writer: Writer | None,
    ) -> None:
        self.storage = storage
        self.models = models
        self.settings = settings
        self.writer = writer

    def _writer(self) -> Writer:
        if self.writer is None:
            raise ModelOff("abstractive briefs need the local LLM: start the service with MEMO_LLM=qwen-0.5b "
                           "or qwen-1.5b")
        return self.writer

    def method(self, mode: str) -> str:
        """The cache key of a mode's briefs (ModelOff for abstractive without an LLM)."""
        return lead.METHOD if mode == EXTRACTIVE else self._writer().brief_method

    def make(self, text: str, spans: list[Span], vectors: np.ndarray | None, count: int, mode: str,
             background: bool = False) -> AnyBrief:
        """A brief of ``text`` from its sentence ``spans`` and (abstractive only) their embeddings. An
        abstractive brief with no supported sentence left gives way to the extractive one."""
        if mode == ABSTRACTIVE and vectors is not None:
            def pick(some: list[Span], their_vectors: np.ndarray, n: int) -> list[str]:
                return [s.text for s in briefing.make_brief(text, list(some), their_vectors, n, self.settings).sentences]

            result = self._writer().brief(text, spans, vectors, self.models, pick,
                                          background=background)
            if result.sentences:
                kept = result.sentences[:count]
                return AbstractiveBrief(" ".join(s.text for s in kept), kept, result.dropped, result.method)
        return lead.make_lead_brief(text, spans, count, self.settings)

    def of_memo(self, memo_id: str, count: int, mode: str, background: bool = False) -> AnyBrief:
        """A stored memo's brief, from the cache when there is one (then in milliseconds)."""
        method = self.method(mode)
        with self.storage.snapshot():  # the text and its sentence offsets from the same version
            memo = self.storage.memos.get(memo_id)
            if memo is None:
                raise NotFound(f"no memo {memo_id}")
            cached = self.storage.briefs.get(memo.content_hash, method, count)
            if cached is not None:
                return from_dict(cached)
            rows = self.storage.memos.sentences(memo_id)
        if mode == ABSTRACTIVE:  # the extractive brief reads no vectors: none is embedded for it
            rows = complete(rows, memo.text, self.models.embedder)
        result = self.make(memo.text, [(s, e) for _, s, e in rows.spans], rows.vectors, count, mode, background)
        # An abstractive brief that fell back to the extractive one is cached under the abstractive method too:
        # greedy decoding would write the same unsupported brief again, at seconds of model time per request.
        self.storage.briefs.put(memo.content_hash, method, count, asdict(result))
        return result

    def of_text(self, prep: Preparer, text: str, count: int, mode: str) -> AnyBrief:
        """The brief of a text that need not be stored (served from the cache when it is)."""
        self.method(mode)  # refuse an impossible mode before any work
        draft = prep.draft(text)
        stored = self.storage.memos.find_by_hash(draft.content_hash)
        if stored is not None:
            try:
                return self.of_memo(stored.id, count, mode)
            except NotFound:  # deleted meanwhile: brief the text itself
                pass
        if mode == EXTRACTIVE:  # sentences as stored ones are bounded, and no embedding
            return self.make(draft.text, prep.cut(draft).sentences, None, count, mode)
        prepared = prep.embed([draft])[0]
        return self.make(draft.text, prepared.sentences, prepared.sentence_vectors, count, mode)

    def status(self, memo: Memo) -> str:
        """``ready`` when the abstractive brief is cached, ``fallback`` when the model's brief did not hold up
        against the memo (the extractive brief is served and cached in its place), ``pending`` when the worker
        has yet to write it, ``off`` without an LLM."""
        if self.writer is None:
            return "off"
        cached = self.storage.briefs.get(memo.content_hash, self.writer.brief_method, PRECOMPUTED_SENTENCES)
        if cached is None:
            return "pending"
        return "ready" if cached["method"].startswith(ABSTRACTIVE) else "fallback"

    def next_pending(self, skip: set[str]) -> str | None:
        """A memo (oldest first) whose abstractive brief is not cached yet."""
        if self.writer is None:
            return None
        return self.storage.briefs.next_pending(self.writer.brief_method, PRECOMPUTED_SENTENCES, skip)


def from_dict(body: dict) -> AnyBrief:
    if body["method"].startswith(ABSTRACTIVE):
        return brief_from_dict(body)
    sentences = tuple(briefing.BriefSentence(**s) for s in body["sentences"])
    return briefing.Brief(body["brief"], sentences, body["method"])

