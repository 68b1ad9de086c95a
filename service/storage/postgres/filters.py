"""``MemoFilter`` as a PostgreSQL condition on the memos table (alias ``m``), as the embedded backend reads it."""
from __future__ import annotations

from service.retrieval.lexical import phrase_key
from service.types import MemoFilter


def filter_sql(where: MemoFilter) -> tuple[str, list[object]]:
    """SQL condition on table alias ``m`` and its parameters ("TRUE" when nothing filters)."""
    clauses: list[str] = []
    params: list[object] = []
    if where.memo_ids is not None:
        clauses.append("m.id = ANY(%s)")
        params.append(list(where.memo_ids))
    if where.date_from:
        clauses.append("m.date >= %s")
        params.append(where.date_from)
    if where.date_to:
        clauses.append("m.date <= %s")
        params.append(where.date_to)
    if where.type:
        clauses.append("m.type = %s")
        params.append(where.type.lower())
    if where.tags:
        clauses.append("EXISTS (SELECT 1 FROM memo_tags t WHERE t.memo_id = m.id AND t.tag = ANY(%s))")
        params.append([t.lower() for t in where.tags])
    for name in where.entities:
        # the memo mentions every name as whole words, case-insensitively (keys are space-wrapped words)
        key = phrase_key(name)
        if not key:
            clauses.append("FALSE")
            continue
        clauses.append("EXISTS (SELECT 1 FROM entities e WHERE e.memo_id = m.id AND strpos(e.key, %s) > 0)")
        params.append(key)
    return (" AND ".join(clauses) or "TRUE"), params
