"""Extractive answers: the best-supported sentence (or the phrase in it that answers, or the sentence less
the words at its ends that only repeat the question), cited, or an abstention."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from models.nlp.candidates import Phrase
from service.retrieval.lexical import TermSet, sentence_terms, terms
from service.answer.phrases import short_answer, trim_answer, wants_noun_phrases, wants_phrase
from service.types import Answer, Citation, Passage

@dataclass(frozen=True)
class AnswerSettings:
    """Weights, threshold and confidence fit chosen with ``scripts/tune_answer.py`` on the XQuAD dev set and
    the long-memo news sets of ``scripts/news_sets.py`` together (docs/quality.md): the tuning of one kind of
    text alone did not transfer to the other."""

    # support below which /ask abstains: on XQuAD dev it abstains as often as 0.49 on the sentence score did
    # (answerable and unanswerable alike), on the news memos it answers far more (docs/quality.md)
    abstain_below: float = 0.70
    dense_weight: float = 0.5  # cosine of question and sentence
    lexical_weight: float = 0.4  # IDF-weighted share of the question's words found in the sentence
    context_weight: float = 0.1  # cosine of question and the sentence's chunk
    # the support of an answer = its sentence's score + margin_weight * (how far it stands above the mean of
    # the next ``margin_depth`` candidates): a sentence that answers stands out from the rest it was found
    # with; one that merely shares the question's words does not
    margin_weight: float = 1.0
    margin_depth: int = 9
    max_citations: int = 5
    # confidence = P(the answer holds the right answer | support): a logistic fit over answerable and
    # unanswerable questions of both dev kinds
    confidence_slope: float = 7.07
    confidence_bias: float = -6.35


def lexical_overlap(question_terms: list[str], sentence_terms: Sequence[str] | TermSet,
                    weights: Mapping[str, float] | None = None) -> float:
    """Weighted share of the question's distinct content words found in the sentence (``weights``: IDF,
    default 1). A stem that prefixes the other counts for 0.7, so ``russia`` partly meets ``russian``."""
    wanted = set(question_terms)
    if not wanted:
        return 0.0
    have = sentence_terms if isinstance(sentence_terms, TermSet) else TermSet.of(sentence_terms)
    weight = (lambda t: weights.get(t, 1.0)) if weights else (lambda t: 1.0)
    total = found = 0.0
    for term in wanted:
        w = weight(term)
        total += w
        if term in have:
            found += w
        elif len(term) >= 4 and (have.extends(term) or have.prefixes(term)):
            found += 0.7 * w
    return found / total if total else 0.0


def support(scored: Sequence[tuple[float, Passage]], settings: AnswerSettings) -> float:
    """How well the best sentence of ``scored`` (best first) answers: its score plus its margin over the mean
    of the next candidates (none: no margin). Comparable with ``settings.abstain_below``."""
    if not scored:
        return 0.0
    best = scored[0][0]
    rest = [s for s, _ in scored[1 : 1 + settings.margin_depth]]
    return best + settings.margin_weight * (best - sum(rest) / len(rest) if rest else 0.0)


def confidence_of(score: float, settings: AnswerSettings) -> float:
    """The support score mapped to the probability, fit on dev data, that the answer is right."""
    return 1.0 / (1.0 + math.exp(-(settings.confidence_slope * score + settings.confidence_bias)))


def score_passages(
    question: str,
    query: np.ndarray,
    passages: list[Passage],
    settings: AnswerSettings,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[float, Passage]]:
    """Each candidate sentence's support for ``question``: embedding similarity, IDF-weighted word overlap
    (``weights``) and its chunk's similarity, weighted; best first. Comparable with ``settings.abstain_below``."""
    if not passages:
        return []
    question_terms = terms(question)
    dense = np.stack([p.vector for p in passages]) @ np.asarray(query, dtype=np.float32).reshape(-1)
    scored = []
    for p, d in zip(passages, dense):
        lex = lexical_overlap(question_terms, sentence_terms(p.text), weights)
        score = settings.dense_weight * float(d) + settings.lexical_weight * lex + settings.context_weight * p.context
        scored.append((score, p))
    scored.sort(key=lambda sp: -sp[0])
    return scored


def answer_question(
    question: str,
    query: np.ndarray,
    passages: list[Passage],
    settings: AnswerSettings,
    weights: Mapping[str, float] | None = None,
    phrases: Callable[[str], list[Phrase]] | None = None,
) -> Answer:
    """Answer from the best-supported sentence (``score_passages``), or abstain when even the best is
    below ``settings.abstain_below``. ``phrases`` finds candidate phrases for a short answer inside it."""
    return decide(question, score_passages(question, query, passages, settings, weights), settings, phrases)


def decide(
    question: str,
    scored: list[tuple[float, Passage]],
    settings: AnswerSettings,
    phrases: Callable[..., list[Phrase]] | None = None,
) -> Answer:
    """The extractive answer from already-scored sentences (best first)."""
    if not scored:
        return Answer(None, 0.0, True, ())
    citations = tuple(
        Citation(p.memo_id, p.start, p.end, p.text, round(s, 4)) for s, p in scored[: settings.max_citations]
    )
    best = scored[0][1]
    supported = support(scored, settings)
    confidence = round(confidence_of(supported, settings), 4)
    if supported < settings.abstain_below:
        return Answer(None, confidence, True, citations)
    # Parsing the sentence is most of an answer's cost: only for questions a phrase can answer.
    candidates = phrases(best.text, wants_noun_phrases(question)) if phrases and wants_phrase(question) else []
    inner = short_answer(question, best.text, candidates)
    if inner is not None:
        inner_start, inner_end = inner.start, inner.end
    else:  # the sentence, less the edge words that only repeat the question
        inner_start, inner_end = trim_answer(question, best.text)
        if (inner_start, inner_end) == (0, len(best.text)):
            return Answer(best.text, confidence, False, citations, citations[0])
        inner_end = inner_start + len(best.text[inner_start:inner_end].rstrip(" .!?;:,"))
    start, end = best.start + inner_start, best.start + inner_end
    span = Citation(best.memo_id, start, end, best.text[inner_start:inner_end], citations[0].score)
    return Answer(span.quote, confidence, False, citations, span)
