"""Abstractive briefs: the LLM rewrites the memo's key sentences (the extractive brief's choice) as 2-3 plain
sentences (long memos: a note per part from that part's key sentences, then a brief of the notes); a sentence
the memo does not support is dropped, and with nothing left the extractive brief stands."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from models.llm.spec import Generator
from models import TextModels
from service.answer.grounding import supported, unsupported_names
from service.llm.prompts import brief_of_briefs_prompt, brief_prompt

Span = tuple[int, int]
# The key sentences of a memo (or of a part of it): given sentence spans, their embeddings and how many.
Picker = Callable[[Sequence[Span], np.ndarray, int], list[str]]


@dataclass(frozen=True)
class AbstractiveSettings:
    max_sentences: int = 3
    max_tokens: int = 120
    key_sentences: int = 3  # what the model reads: the memo's (or a part's) key sentences
    # Memos up to this many words are briefed from one set of key sentences; longer ones a part at a time
    # (a note from each part's key sentences), then the notes.
    part_words: int = 800
    part_tokens: int = 60
    min_similarity: float = 0.6  # a brief sentence must be this close (cosine) to some memo sentence


@dataclass(frozen=True)
class SupportedSentence:
    """A sentence of the brief and the memo sentence closest to it (``memo.text[start:end] == quote``)."""

    text: str
    start: int
    end: int
    quote: str
    similarity: float


@dataclass(frozen=True)
class AbstractiveBrief:
    brief: str
    sentences: tuple[SupportedSentence, ...]
    dropped: tuple[str, ...]  # generated sentences the memo does not support
    method: str


def parts(text: str, spans: Sequence[Span], part_words: int) -> list[range]:
    """The memo's sentences cut into runs of about ``part_words`` words (indices into ``spans``)."""
    pieces, first, words = [], 0, 0
    for i, (s, e) in enumerate(spans):
        n = len(text[s:e].split())
        if i > first and words + n > part_words:
            pieces.append(range(first, i))
            first, words = i, 0
        words += n
    if spans:
        pieces.append(range(first, len(spans)))
    return pieces


def write_brief(text: str, spans: Sequence[Span], vectors: np.ndarray, pick: Picker, generator: Generator,
                settings: AbstractiveSettings) -> str:
    """The model's brief from the memo's key sentences (map-reduce over parts when the memo is long)."""
    pieces = parts(text, spans, settings.part_words)
    if len(pieces) <= 1:
        return generator.generate(brief_prompt(pick(spans, vectors, settings.key_sentences)), settings.max_tokens)
    notes = [generator.generate(brief_prompt(pick([spans[i] for i in p], vectors[p.start:p.stop], settings.key_sentences)),
                                settings.part_tokens).strip() for p in pieces]
    return generator.generate(brief_of_briefs_prompt(notes), settings.max_tokens)


def check_brief(
    generated: str,
    text: str,
    spans: Sequence[Span],
    vectors: np.ndarray,
    models: TextModels,
    settings: AbstractiveSettings,
    method: str,
) -> AbstractiveBrief:
    """Keep the generated sentences the memo supports: close in meaning to one of its sentences, and no
    number or name the memo does not contain. At most ``settings.max_sentences``."""
    sentences = [" ".join(generated[s:e].split()) for s, e in models.splitter.spans(generated)]
    sentences = [s for s in sentences if len(s.split()) >= 3]
    kept: list[SupportedSentence] = []
    dropped: list[str] = []
    sentence_vectors = models.embedder.embed(sentences) if sentences else np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0))
    for sentence, vector in zip(sentences, sentence_vectors):
        similarity = supported(vector, vectors, settings.min_similarity)
        if not similarity or unsupported_names(sentence, text, models.phrases.phrases) or len(kept) >= settings.max_sentences:
            dropped.append(sentence)
            continue
        best = int(np.argmax(vectors @ vector))
        s, e = spans[best]
        kept.append(SupportedSentence(sentence, s, e, text[s:e], round(similarity, 4)))
    return AbstractiveBrief(" ".join(k.text for k in kept), tuple(kept), tuple(dropped), method)
