"""Extractive answers: the best-supported sentence (or a date/number inside it), cited, or an abstention."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from service.lexical import terms


@dataclass(frozen=True)
class Passage:
    """A candidate sentence: ``text == memo.text[start:end]``; ``context`` is its chunk's retrieval score."""

    memo_id: str
    start: int
    end: int
    text: str
    vector: np.ndarray
    context: float


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


@dataclass(frozen=True)
class AnswerSettings:
    abstain_below: float = 0.42
    dense_weight: float = 0.55
    lexical_weight: float = 0.30
    context_weight: float = 0.15
    max_citations: int = 5


_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|{_MONTHS}\s+\d{{4}}"
    rf"|(?:1[5-9]|20)\d\d(?:s)?|\d{{4}}-\d{{2}}-\d{{2}})\b"
)
_NUMBER = re.compile(
    r"(?:[$\u00a3\u20ac]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|per\s?cent|percent|million|billion|trillion|thousand|"
    r"hundred|km|kilometres|miles|metres|meters|kg|tonnes|tons|years?|months?|days?|hours?|people|troops))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|thousand)\b",
    re.I,
)
_WHEN = re.compile(r"^\s*(?:when\b|what\s+(?:year|date|month|day)\b|in\s+what\s+year\b|which\s+year\b)", re.I)
_HOW_MANY = re.compile(r"^\s*(?:how\s+(?:many|much|long|old|far)\b|what\s+(?:percentage|number|amount)\b)", re.I)


def lexical_overlap(question_terms: list[str], sentence_terms: list[str]) -> float:
    """Share of the question's distinct content words found in the sentence (a stem that prefixes the
    other counts, so ``russia`` meets ``russian``)."""
    wanted = set(question_terms)
    if not wanted:
        return 0.0
    have = set(sentence_terms)
    found = 0
    for term in wanted:
        if term in have or (len(term) >= 4 and any(h.startswith(term) or (len(h) >= 4 and term.startswith(h)) for h in have)):
            found += 1
    return found / len(wanted)


def narrow(question: str, sentence: str) -> tuple[int, int] | None:
    """Offsets inside ``sentence`` of a date (for when-questions) or a quantity (how many/much), or None."""
    if _WHEN.search(question):
        pattern = _DATE
    elif _HOW_MANY.search(question):
        pattern = _NUMBER
    else:
        return None
    asked = question.lower()
    for match in pattern.finditer(sentence):
        if match.group(0).lower() not in asked:
            return match.start(), match.end()
    return None


def confidence_of(score: float, threshold: float) -> float:
    """A monotone map of the support score to (0, 1); 0.5 sits at the abstention threshold."""
    return 1.0 / (1.0 + math.exp(-(score - threshold) / 0.06))


def score_passages(question: str, query: np.ndarray, passages: list[Passage], settings: AnswerSettings) -> list[tuple[float, Passage]]:
    """Each candidate sentence's support for ``question``: embedding similarity, lexical overlap and its
    chunk's score, weighted; best first. Comparable with ``settings.abstain_below``."""
    if not passages:
        return []
    question_terms = terms(question)
    dense = np.stack([p.vector for p in passages]) @ np.asarray(query, dtype=np.float32).reshape(-1)
    scored = []
    for p, d in zip(passages, dense):
        lex = lexical_overlap(question_terms, terms(p.text))
        score = settings.dense_weight * float(d) + settings.lexical_weight * lex + settings.context_weight * p.context
        scored.append((score, p))
    scored.sort(key=lambda sp: -sp[0])
    return scored


def answer_question(question: str, query: np.ndarray, passages: list[Passage], settings: AnswerSettings) -> Answer:
    """Answer from the best-supported sentence, or abstain when even the best is below
    ``settings.abstain_below``."""
    scored = score_passages(question, query, passages, settings)
    if not scored:
        return Answer(None, 0.0, True, ())
    citations = tuple(
        Citation(p.memo_id, p.start, p.end, p.text, round(s, 4)) for s, p in scored[: settings.max_citations]
    )
    best_score, best = scored[0]
    confidence = round(confidence_of(best_score, settings.abstain_below), 4)
    if best_score < settings.abstain_below:
        return Answer(None, confidence, True, citations)
    inner = narrow(question, best.text)
    if inner is None:
        return Answer(best.text, confidence, False, citations, citations[0])
    start, end = best.start + inner[0], best.start + inner[1]
    span = Citation(best.memo_id, start, end, best.text[inner[0] : inner[1]], citations[0].score)
    return Answer(span.quote, confidence, False, citations, span)
