"""Answers, briefs, memos, facets and timelines as JSON-ready dicts (shared by the API and the CLI)."""
from __future__ import annotations

from typing import Any, Sequence

from models.nlp.entities import Entity
from service.brief.abstractive import AbstractiveBrief
from service.types import Answer, Citation
from service.brief.key_sentences import Brief
from service.types import Facets
from service.types import Memo, MemoInfo
from service.brief.topics import TopicBrief


def memo_summary(memo: MemoInfo) -> dict[str, Any]:
    return {
        "id": memo.id, "title": memo.title, "date": memo.date, "type": memo.type, "source": memo.source,
        "tags": list(memo.tags), "chars": memo.chars, "content_hash": memo.content_hash,
        "created_at": memo.created_at, "updated_at": memo.updated_at,
    }


def memo_body(memo: Memo, entities: Sequence[Entity] | None) -> dict[str, Any]:
    """A memo with its text and its entity mentions (None: not read yet, ``entities_status`` pending)."""
    return {
        **memo_summary(memo), "text": memo.text,
        "entities": None if entities is None else
        [{"text": e.text, "label": e.label, "start": e.start, "end": e.end} for e in entities],
        "entities_status": "pending" if entities is None else "ready",
    }


def citation_body(c: Citation, title: str | None, date: str | None) -> dict[str, Any]:
    return {"memo_id": c.memo_id, "title": title, "date": date, "start": c.start, "end": c.end, "quote": c.quote,
            "score": c.score}


def answer_body(result: Answer, memos: dict[str, MemoInfo]) -> dict[str, Any]:
    def cite(c: Citation) -> dict[str, Any]:
        info = memos.get(c.memo_id)
        return citation_body(c, info.title if info else None, info.date if info else None)

    span = result.span
    return {
        "answer": result.answer,
        "confidence": result.confidence,
        "abstained": result.abstained,
        "mode": result.mode,
        "span": {"memo_id": span.memo_id, "start": span.start, "end": span.end, "quote": span.quote} if span else None,
        "citations": [cite(c) for c in result.citations],
        "generated": result.generated,
        "grounding": result.grounding,
    }


def brief_body(brief: Brief | AbstractiveBrief, memo_id: str | None) -> dict[str, Any]:
    if isinstance(brief, AbstractiveBrief):
        sentences = [{"text": s.text, "start": s.start, "end": s.end, "quote": s.quote, "similarity": s.similarity}
                     for s in brief.sentences]
        return {"memo_id": memo_id, "brief": brief.brief, "sentences": sentences, "method": brief.method,
                "dropped": list(brief.dropped)}
    return {
        "memo_id": memo_id,
        "brief": brief.brief,
        "sentences": [{"text": s.text, "start": s.start, "end": s.end} for s in brief.sentences],
        "method": brief.method,
    }


def topic_body(topic: TopicBrief) -> dict[str, Any]:
    return {
        "query": topic.query,
        "brief": topic.brief,
        "abstained": topic.abstained,
        "method": topic.method,
        "timeline": [
            {"memo_id": t.memo_id, "date": t.date, "title": t.title, "point": t.point, "score": t.score,
             "citations": [citation_body(c, t.title, t.date) for c in t.citations]}
            for t in topic.timeline
        ],
    }


def facets_body(facets: Facets) -> dict[str, Any]:
    def counts(items) -> list[dict[str, Any]]:
        return [{"value": c.value, "memos": c.memos} for c in items]

    return {
        "total": facets.total, "types": counts(facets.types), "years": counts(facets.years),
        "tags": counts(facets.tags),
        "entities": [{"text": e.text, "label": e.label, "memos": e.memos} for e in facets.entities],
    }
