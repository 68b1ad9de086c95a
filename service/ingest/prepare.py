"""Memo texts to store-ready memos: drafts, sentences and chunks sized by the embedder, embeddings, entities."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from models.embedders import Embedder
from models.nlp.entities import EntityExtractor
from models.nlp.sentences import SentenceSplitter
from service.ingest import entities as ner
from service.ingest.chunking import bound_sentences, chunk_sentences
from service.types import MemoDraft
from service.ingest.parse import prepare_memo
from service.types import PreparedMemo


@dataclass(frozen=True)
class Cut:
    """A draft's sentence and chunk spans, and the texts to embed (sentences first, then chunks)."""

    draft: MemoDraft
    sentences: list
    chunks: list
    texts: list[str]


class Preparer:
    """Drafts memos and embeds them; several memos share one ``embed`` call, so the embedder's length-sorted
    batches are full even for short memos."""

    def __init__(self, embedder: Embedder, splitter: SentenceSplitter, entity_extractor: EntityExtractor,
                 chunk_tokens: int, chunk_overlap: int, max_memo_chars: int) -> None:
        self.embedder = embedder
        self.splitter = splitter
        self.entity_extractor = entity_extractor
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.max_memo_chars = max_memo_chars
        # Entities are found on a thread of their own while the embedder runs (it leaves the GIL inside
        # the model), instead of after it with a core idle.
        self._ner = ThreadPoolExecutor(1, thread_name_prefix="entities")

    def close(self) -> None:
        """Stop the entity thread (after the batch it is on, if any)."""
        self._ner.shutdown(wait=True)

    def split(self, text: str, start: int = 0) -> list[tuple[int, int]]:
        return self.splitter.spans(text, start)

    def draft(self, text: str, max_chars: int | None = None, **meta) -> MemoDraft:
        """Normalise, parse the header and split into sentences (no model calls but the splitter)."""
        return prepare_memo(text, split=self.split, max_chars=max_chars or self.max_memo_chars, **meta)

    def cut(self, draft: MemoDraft) -> Cut:
        sentences, counts = bound_sentences(draft.text, draft.sentences, self.embedder.count_tokens, self.chunk_tokens)
        chunks = chunk_sentences(sentences, counts, self.chunk_tokens, self.chunk_overlap)
        texts = [draft.text[s:e] for s, e in sentences] + [draft.text[c.start : c.end] for c in chunks]
        return Cut(draft, sentences, chunks, texts)

    def embed(self, drafts: Sequence[MemoDraft], sentences: bool = True, entities: bool = True) -> list[PreparedMemo]:
        """Every draft's sentences and chunks embedded in one call, and its entities found. ``sentences=False``
        embeds the chunks alone and leaves zero rows for the sentences (``service.ingest.deferred``);
        ``entities=False`` leaves the entities unread (``service.ingest.entities.EntityReader`` reads them)."""
        cuts = [self.cut(d) for d in drafts]
        found = (self._ner.submit(lambda: [ner.find_entities(self.entity_extractor, c.draft.text) for c in cuts])
                 if entities else None)
        skip = [0 if sentences else len(c.sentences) for c in cuts]
        vectors = self.embedder.embed([t for c, k in zip(cuts, skip) for t in c.texts[k:]])
        prepared, offset = [], 0
        for c, k, mentions in zip(cuts, skip, found.result() if found else [()] * len(cuts)):
            mine = vectors[offset : offset + len(c.texts) - k]
            offset += len(c.texts) - k
            if k:
                mine = np.concatenate([np.zeros((k, vectors.shape[1]), dtype=np.float32), mine])
            n = len(c.sentences)
            prepared.append(PreparedMemo(c.draft, c.sentences, mine[:n], c.chunks, mine[n:], mentions,
                                         self.entity_extractor.name if entities else None))
        return prepared

    def prepare(self, text: str, **meta) -> PreparedMemo:
        return self.embed([self.draft(text, **meta)])[0]
