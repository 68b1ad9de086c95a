"""Standard evaluation metrics: SQuAD exact match and F1, nDCG/recall/MRR, ROUGE (rouge-score)."""
from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalise_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and the articles a/an/the, squeeze spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    return float(any(normalise_answer(prediction) == normalise_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best token-overlap F1 against any gold answer."""
    best = 0.0
    pred = normalise_answer(prediction).split()
    for gold in golds:
        ref = normalise_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if not pred or not ref:
            best = max(best, float(pred == ref))
        elif common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def contains_answer(text: str, golds: Sequence[str]) -> bool:
    """Whether a normalised gold answer occurs inside the normalised text (word-aligned)."""
    hay = f" {normalise_answer(text)} "
    return any(f" {normalise_answer(g)} " in hay for g in golds if normalise_answer(g))


def ndcg_at(ranking: Sequence[str], gains: Mapping[str, float], k: int) -> float:
    """nDCG@k with linear gains (trec_eval's default); 0 when nothing is relevant."""
    dcg = sum(gains.get(doc, 0.0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]))
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    return len(set(ranking[:k]) & relevant) / len(relevant) if relevant else 0.0


def mrr_at(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    for i, doc in enumerate(ranking[:k]):
        if doc in relevant:
            return 1.0 / (i + 1)
    return 0.0


class Rouge:
    """ROUGE-1/2/Lsum F1 with stemming; several references score as the best one (rouge-score's
    ``score_multi``). Texts are lists of sentences: ROUGE-Lsum needs the sentence boundaries."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)

    def score(self, prediction: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
        pred = "\n".join(prediction)
        refs = ["\n".join(r) for r in references]
        scores = self._scorer.score_multi(refs, pred) if len(refs) > 1 else self._scorer.score(refs[0], pred)
        return {name: s.fmeasure for name, s in scores.items()}
