"""Answers, briefs and memos as JSON-ready dicts (shared by the API and the CLI)."""
from __future__ import annotations

from typing import Any

from service.answer import Answer
from service.brief import Brief
from service.store import MemoInfo


def memo_summary(memo: MemoInfo) -> dict[str, Any]:
    return {
        "id": memo.id, "title": memo.title, "date": memo.date, "type": memo.type, "source": memo.source,
        "tags": list(memo.tags), "chars": memo.chars, "content_hash": memo.content_hash,
        "created_at": memo.created_at, "updated_at": memo.updated_at,
    }


def answer_body(result: Answer, memos: dict[str, MemoInfo]) -> dict[str, Any]:
    def cite(c):
        info = memos.get(c.memo_id)
        return {"memo_id": c.memo_id, "title": info.title if info else None, "date": info.date if info else None,
                "start": c.start, "end": c.end, "quote": c.quote, "score": c.score}

    span = result.span
    return {
        "answer": result.answer,
        "confidence": result.confidence,
        "abstained": result.abstained,
        "mode": "extractive",
        "span": {"memo_id": span.memo_id, "start": span.start, "end": span.end, "quote": span.quote} if span else None,
        "citations": [cite(c) for c in result.citations],
    }


def brief_body(brief: Brief, memo_id: str | None) -> dict[str, Any]:
    return {
        "memo_id": memo_id,
        "brief": brief.brief,
        "sentences": [{"text": s.text, "start": s.start, "end": s.end} for s in brief.sentences],
        "method": brief.method,
    }
