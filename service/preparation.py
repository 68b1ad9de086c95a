"""Memo texts to store-ready memos: drafts, sentences and chunks sized by the embedder, embeddings, entities."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from models.embedder import Embedder, Span, has_spans
from models.nlp import EntityExtractor, SentenceSplitter
from service import entities as ner
from service.chunking import Chunk, bound_sentences, chunk_sentences
from service.ingest import MemoDraft, prepare_memo
from service.store import PreparedMemo


@dataclass(frozen=True)
class Cut:
    """A draft's sentence and chunk spans."""

    draft: MemoDraft
    sentences: list[Span]
    chunks: list[Chunk]

    def sentence_texts(self) -> list[str]:
        return [self.draft.text[s:e] for s, e in self.sentences]

    def chunk_texts(self) -> list[str]:
        return [self.draft.text[c.start : c.end] for c in self.chunks]

    def chunk_spans(self) -> list[list[Span]]:
        """Each chunk's sentences as character spans of the chunk's text."""
        return [[(s - c.start, e - c.start) for s, e in self.sentences[c.first : c.last + 1]] for c in self.chunks]

    def sentence_vectors(self, span_vectors: Sequence[np.ndarray]) -> np.ndarray:
        """One vector per sentence from its vectors in the chunks that hold it (``span_vectors[k]``: chunk
        k's, in ``chunk_spans`` order): a sentence in two chunks' overlap gets the normalised mean of both."""
        out = np.zeros((len(self.sentences), span_vectors[0].shape[1] if span_vectors else 0), dtype=np.float32)
        for chunk, vectors in zip(self.chunks, span_vectors):
            out[chunk.first : chunk.last + 1] += vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)


class Preparer:
    """Drafts memos and embeds them; several memos share one embedding call, so the embedder's length-sorted
    batches are full even for short memos. An embedder with ``embed_with_spans`` embeds chunks only and
    pools the sentence vectors from them (``models.embedder.provenance`` records which way)."""

    def __init__(self, embedder: Embedder, splitter: SentenceSplitter, entity_extractor: EntityExtractor,
                 chunk_tokens: int, chunk_overlap: int, max_memo_chars: int) -> None:
        self.embedder = embedder
        self.splitter = splitter
        self.entity_extractor = entity_extractor
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.max_memo_chars = max_memo_chars

    def split(self, text: str, start: int = 0) -> list[tuple[int, int]]:
        return self.splitter.spans(text, start)

    def draft(self, text: str, max_chars: int | None = None, **meta) -> MemoDraft:
        """Normalise, parse the header and split into sentences (no model calls but the splitter)."""
        return prepare_memo(text, split=self.split, max_chars=max_chars or self.max_memo_chars, **meta)

    def cut(self, draft: MemoDraft) -> Cut:
        sentences, counts = bound_sentences(draft.text, draft.sentences, self.embedder.count_tokens, self.chunk_tokens)
        return Cut(draft, sentences, chunk_sentences(sentences, counts, self.chunk_tokens, self.chunk_overlap))

    def embed(self, drafts: Sequence[MemoDraft]) -> list[PreparedMemo]:
        """Every draft's chunks and sentences embedded in one call, and its entities found."""
        cuts = [self.cut(d) for d in drafts]
        vectors = self._in_context(cuts) if has_spans(self.embedder) else self._apart(cuts)
        return [PreparedMemo(c.draft, c.sentences, sentence_vectors, c.chunks, chunk_vectors,
                             ner.find_entities(self.entity_extractor, c.draft.text), self.entity_extractor.name)
                for c, (sentence_vectors, chunk_vectors) in zip(cuts, vectors)]

    def _in_context(self, cuts: list[Cut]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Chunks only go through the model; each sentence's vector is pooled from its chunk's token states."""
        chunk_vectors, span_vectors = self.embedder.embed_with_spans(  # type: ignore[attr-defined]
            [t for c in cuts for t in c.chunk_texts()], [s for c in cuts for s in c.chunk_spans()])
        out, offset = [], 0
        for c in cuts:
            end = offset + len(c.chunks)
            out.append((c.sentence_vectors(span_vectors[offset:end]), chunk_vectors[offset:end]))
            offset = end
        return out

    def _apart(self, cuts: list[Cut]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Embedders without ``embed_with_spans``: every sentence and every chunk embedded on its own."""
        vectors = self.embedder.embed([t for c in cuts for t in c.sentence_texts() + c.chunk_texts()])
        out, offset = [], 0
        for c in cuts:
            n, end = len(c.sentences), offset + len(c.sentences) + len(c.chunks)
            out.append((vectors[offset : offset + n], vectors[offset + n : end]))
            offset = end
        return out

    def prepare(self, text: str, **meta) -> PreparedMemo:
        return self.embed([self.draft(text, **meta)])[0]
