"""Abstractive briefs: the LLM rewrites the memo's key sentences (the extractive brief's choice) as 2-3 plain
sentences (long memos: a note per part from that part's key sentences, then a brief of the notes); a sentence
the memo does not support is dropped, and with nothing left the extractive brief stands."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from models.llm.spec import Generator
from models import TextModels
from service.answer.grounding import LOCAL_LABELS, negation_flipped, supported, unsupported_names
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
    # A brief sentence must be this close (cosine) to some memo sentence, and state no name, number or date
    # that the ``local_sources`` memo sentences closest to it do not, nor a negation that the closest does
    # not: a person swapped in from elsewhere in the memo, or a number or date moved from another fact, is
    # caught there. On news highlights and perturbed copies of them (scripts/check_faithfulness.py): 0.6
    # alone dropped 35% of faithful sentences and caught 41% of perturbed ones; this, 28% and 66%.
    min_similarity: float = 0.5
    local_sources: int = 3


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


class GaveWay(Exception):
    """A background brief stopped part-way so that a waiting request gets the model; the memo's brief is
    still to be written."""


def write_brief(text: str, spans: Sequence[Span], vectors: np.ndarray, pick: Picker, generator: Generator,
                settings: AbstractiveSettings, give_way: Callable[[], bool] | None = None) -> str:
    """The model's brief from the memo's key sentences (map-reduce over parts when the memo is long).
    ``give_way``: asked after every piece the model writes; when it says so, the model is stopped and
    ``GaveWay`` raised (a background brief yielding to a request that waits)."""
    generate = generator.generate if give_way is None else _yielding(generator, give_way)
    pieces = parts(text, spans, settings.part_words)
    if len(pieces) <= 1:
        return generate(brief_prompt(pick(spans, vectors, settings.key_sentences)), settings.max_tokens)
    notes = [generate(brief_prompt(pick([spans[i] for i in p], vectors[p.start:p.stop], settings.key_sentences)),
                      settings.part_tokens).strip() for p in pieces]
    return generate(brief_of_briefs_prompt(notes), settings.max_tokens)


def _yielding(generator: Generator, give_way: Callable[[], bool]) -> Callable[[str, int], str]:
    """``generator.generate`` made of its stream (the same text), stopped at the first piece after which
    ``give_way()`` is true: closing the stream stops the model at its next token."""
    def generate(prompt: str, max_tokens: int) -> str:
        stream = generator.stream(prompt, max_tokens)
        written = []
        try:
            for piece in stream:
                if give_way():
                    raise GaveWay
                written.append(piece)
        finally:
            stream.close()
        return "".join(written)

    return generate


def check_brief(
    generated: str,
    text: str,
    spans: Sequence[Span],
    vectors: np.ndarray,
    models: TextModels,
    settings: AbstractiveSettings,
    method: str,
) -> AbstractiveBrief:
    """Keep the generated sentences the memo supports: close in meaning to one of its sentences, no number or
    name the memo does not contain, no name, number or date that the memo sentences closest to it do not
    state, no negation its closest sentence does not have. At most ``settings.max_sentences``."""
    sentences = [" ".join(generated[s:e].split()) for s, e in models.splitter.spans(generated)]
    sentences = [s for s in sentences if len(s.split()) >= 3]
    kept: list[SupportedSentence] = []
    dropped: list[str] = []
    sentence_vectors = models.embedder.embed(sentences) if sentences else np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0))
    for sentence, vector in zip(sentences, sentence_vectors):
        similarity = supported(vector, vectors, settings.min_similarity)
        nearest = [spans[i] for i in np.argsort(-(vectors @ vector))[: settings.local_sources]] if similarity else []
        if (not similarity or len(kept) >= settings.max_sentences
                or unsupported_names(sentence, text, models.phrases.phrases)
                or unsupported_names(sentence, " ".join(text[s:e] for s, e in nearest), models.phrases.phrases,
                                     LOCAL_LABELS)
                or negation_flipped(sentence, text[slice(*nearest[0])])):
            dropped.append(sentence)
            continue
        s, e = nearest[0]
        kept.append(SupportedSentence(sentence, s, e, text[s:e], round(similarity, 4)))
    return AbstractiveBrief(" ".join(k.text for k in kept), tuple(kept), tuple(dropped), method)
