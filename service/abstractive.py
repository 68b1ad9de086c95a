"""Abstractive briefs: the LLM writes 2-3 plain sentences (long memos: a note per part, then a brief of the
notes); a sentence the memo does not support is dropped, and with nothing left the extractive brief stands."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from models.llm import Generator
from models.phrases import Phrase
from service.grounding import supported, unsupported_names
from service.prompts import brief_of_briefs_prompt, brief_prompt

Span = tuple[int, int]


@dataclass(frozen=True)
class AbstractiveSettings:
    max_sentences: int = 3
    max_tokens: int = 120
    # Memos up to this many words are briefed in one prompt (~1,100 tokens: the 2,048-token context keeps
    # room for the answer); longer ones a part at a time, then the notes. One prompt is always faster.
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


def parts(text: str, spans: Sequence[Span], part_words: int) -> list[str]:
    """The memo cut at sentence boundaries into pieces of about ``part_words`` words."""
    pieces, current, words = [], [], 0
    for s, e in spans:
        n = len(text[s:e].split())
        if current and words + n > part_words:
            pieces.append(" ".join(current))
            current, words = [], 0
        current.append(text[s:e])
        words += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def write_brief(text: str, spans: Sequence[Span], generator: Generator, settings: AbstractiveSettings) -> str:
    """The model's brief of the memo body (map-reduce over parts when it is long)."""
    pieces = parts(text, spans, settings.part_words)
    if len(pieces) <= 1:
        return generator.generate(brief_prompt(pieces[0] if pieces else text), settings.max_tokens)
    notes = [generator.generate(brief_prompt(p), settings.part_tokens).strip() for p in pieces]
    return generator.generate(brief_of_briefs_prompt(notes), settings.max_tokens)


def check_brief(
    generated: str,
    text: str,
    spans: Sequence[Span],
    vectors: np.ndarray,
    split: Callable[[str], list[Span]],
    embed: Callable[[list[str]], np.ndarray],
    phrases: Callable[[str], list[Phrase]] | None,
    settings: AbstractiveSettings,
    method: str,
) -> AbstractiveBrief:
    """Keep the generated sentences the memo supports: close in meaning to one of its sentences, and no
    number or name the memo does not contain. At most ``settings.max_sentences``."""
    sentences = [" ".join(generated[s:e].split()) for s, e in split(generated)]
    sentences = [s for s in sentences if len(s.split()) >= 3]
    kept: list[SupportedSentence] = []
    dropped: list[str] = []
    sentence_vectors = embed(sentences) if sentences else np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0))
    for sentence, vector in zip(sentences, sentence_vectors):
        similarity = supported(vector, vectors, settings.min_similarity)
        if not similarity or unsupported_names(sentence, text, phrases) or len(kept) >= settings.max_sentences:
            dropped.append(sentence)
            continue
        best = int(np.argmax(vectors @ vector))
        s, e = spans[best]
        kept.append(SupportedSentence(sentence, s, e, text[s:e], round(similarity, 4)))
    return AbstractiveBrief(" ".join(k.text for k in kept), tuple(kept), tuple(dropped), method)
