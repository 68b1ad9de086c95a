"""Topic briefs across memos: one cited point per memo that supports the query, on a dated timeline."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from service.answer.extractive import AnswerSettings, score_passages

from service.types import Citation, Passage
from service.types import MemoInfo

METHOD = "extractive-timeline"
MAX_SEARCH_DEPTH = 400


@dataclass(frozen=True)
class TimelinePoint:
    """A memo's best-supported sentence for the query; ``citations[0]`` is where it sits in the memo."""

    memo_id: str
    date: str | None
    title: str
    point: str
    score: float
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class TopicBrief:
    """``timeline`` in memo-date order (undated last); ``brief`` joins a few of its points, or is None
    when no memo supports the query (``abstained``)."""

    query: str
    brief: str | None
    timeline: tuple[TimelinePoint, ...]
    abstained: bool
    method: str = METHOD

    def with_paragraph(self, paragraph: str | None, method: str) -> "TopicBrief":
        """The same timeline under a generated paragraph (kept extractive when there is none)."""
        return self if not paragraph else replace(self, brief=paragraph, method=method)


@dataclass(frozen=True)
class TopicSettings:
    brief_points: int = 3  # points joined into the brief paragraph
    mmr_lambda: float = 0.7  # support vs. novelty when choosing them
    # A point need only be about the topic, not answer a question: below /ask's abstention threshold
    # (0.49), above what sentences sharing no rare word with the query score (under ~0.15 on the seeds).
    min_score: float = 0.35


def search_depth(k: int) -> int:
    """Chunks to retrieve so that about ``k`` memos can each contribute a point."""
    return min(MAX_SEARCH_DEPTH, max(40, 8 * k))


def _timeline_order(point: TimelinePoint) -> tuple:
    return point.date is None, point.date or "", -point.score, point.memo_id


def pick_brief_points(candidates: list[tuple[float, Passage]], count: int, mmr_lambda: float) -> set[str]:
    """Memo ids of up to ``count`` well-supported points that repeat each other least (MMR)."""
    chosen: list[tuple[float, Passage]] = []
    remaining = list(candidates)
    while remaining and len(chosen) < count:
        def value(sp: tuple[float, Passage]) -> float:
            redundancy = max((float(np.dot(sp[1].vector, c[1].vector)) for c in chosen), default=0.0)
            return mmr_lambda * sp[0] - (1 - mmr_lambda) * redundancy

        best = max(remaining, key=value)
        chosen.append(best)
        remaining.remove(best)
    return {p.memo_id for _, p in chosen}


def brief_topic(
    query: str,
    vector: np.ndarray,
    passages: list[Passage],
    memos: dict[str, MemoInfo],
    k: int,
    answer_settings: AnswerSettings,
    weights: Mapping[str, float] | None = None,
    settings: TopicSettings = TopicSettings(),
) -> TopicBrief:
    """Score the retrieved sentences as ``/ask`` does (``weights``: the IDF of the query's words); each of
    the ``k`` best-supported memos whose best sentence clears ``settings.min_score`` gives one point.
    Memos below it are left out."""
    best: dict[str, tuple[float, Passage]] = {}
    for score, passage in score_passages(query, vector, passages, answer_settings, weights):
        if score < settings.min_score:
            break
        if passage.memo_id in memos and passage.memo_id not in best:
            best[passage.memo_id] = (score, passage)
    candidates = list(best.values())[:k]  # best first: scores arrive in descending order
    timeline = sorted(
        (
            TimelinePoint(
                p.memo_id, memos[p.memo_id].date, memos[p.memo_id].title, " ".join(p.text.split()), round(s, 4),
                (Citation(p.memo_id, p.start, p.end, p.text, round(s, 4)),),
            )
            for s, p in candidates
        ),
        key=_timeline_order,
    )
    if not timeline:
        return TopicBrief(query, None, (), True)
    in_brief = pick_brief_points(candidates, settings.brief_points, settings.mmr_lambda)
    brief = " ".join(f"{t.date}: {t.point}" if t.date else t.point for t in timeline if t.memo_id in in_brief)
    return TopicBrief(query, brief, tuple(timeline), False)
