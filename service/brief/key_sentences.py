"""Key sentences by maximal marginal relevance (central, non-redundant, lead-biased), in memo order: what
the local LLM reads to write an abstractive brief. The default extractive brief is ``lead``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.brief.furniture import trim_dateline

METHOD = "extractive-mmr"


@dataclass(frozen=True)
class BriefSentence:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Brief:
    brief: str
    sentences: tuple[BriefSentence, ...]
    method: str = METHOD


@dataclass(frozen=True)
class BriefSettings:
    """The lead brief's length (``lead``; swept with ``scripts/tune_brief.py``), and the MMR weights of the
    key sentences the LLM reads (chosen on the CNN/DM dev set when those picks were the extractive brief)."""

    words_per_sentence: int = 22  # the lead brief of N sentences aims at N * this many words (3: 66)

    lead_weight: float = 0.85  # share of a sentence's relevance that comes from being early in the memo
    lead_decay: float = 0.5  # relevance from position: 1 / (1 + decay * index)
    mmr_lambda: float = 0.6  # relevance vs. novelty against sentences already chosen
    min_words: int = 6  # shorter sentences (bylines, headings) are chosen only when nothing else is left


def select_sentences(vectors: np.ndarray, word_counts: list[int], count: int, settings: BriefSettings) -> list[int]:
    """Indices (ascending) of up to ``count`` sentences by maximal marginal relevance, where relevance
    mixes closeness to the memo's centroid with position."""
    n = len(word_counts)
    if n == 0 or count <= 0:
        return []
    if n <= count:
        return list(range(n))
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid)) or 1.0
    centrality = vectors @ (centroid / norm)
    lead = 1.0 / (1.0 + settings.lead_decay * np.arange(n))
    relevance = (1 - settings.lead_weight) * centrality + settings.lead_weight * lead
    eligible = [i for i in range(n) if word_counts[i] >= settings.min_words]
    if len(eligible) < count:
        eligible = list(range(n))
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    while len(chosen) < count and len(chosen) < len(eligible):
        best, best_value = -1, -np.inf
        for i in eligible:
            if i in chosen:
                continue
            redundancy = max((similarity[i, j] for j in chosen), default=0.0)
            value = settings.mmr_lambda * relevance[i] - (1 - settings.mmr_lambda) * redundancy
            if value > best_value:
                best, best_value = i, value
        chosen.append(best)
    return sorted(chosen)


def make_brief(text: str, spans: list[tuple[int, int]], vectors: np.ndarray, count: int, settings: BriefSettings) -> Brief:
    """The brief of ``text`` from its sentence ``spans`` and their embeddings."""
    word_counts = [len(text[s:e].split()) for s, e in spans]
    picked = select_sentences(vectors, word_counts, count, settings)
    trimmed = [trim_dateline(text, *spans[i]) for i in picked]
    sentences = tuple(BriefSentence(text[s:e], s, e) for s, e in trimmed)
    return Brief(" ".join(" ".join(s.text.split()) for s in sentences), sentences)
