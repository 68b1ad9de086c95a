"""``MemoFilter`` as a SQL condition on the memos table (alias ``m``)."""
from __future__ import annotations

from service.retrieval.lexical import phrase_key
from service.types import MemoFilter


def filter_sql(where: MemoFilter) -> tuple[str, list[object]]:
    """SQL condition on table alias ``m`` and its parameters ("1" when nothing filters)."""
    clauses: list[str] = []
    params: list[object] = []
    if where.memo_ids is not None:
        clauses.append(f"m.id IN ({','.join('?' * len(where.memo_ids))})" if where.memo_ids else "0")
        params.extend(where.memo_ids)
    if where.date_from:
        clauses.append("m.date >= ?")
        params.append(where.date_from)
    if where.date_to:
        clauses.append("m.date <= ?")
        params.append(where.date_to)
    if where.type:
        clauses.append("m.type = ?")
        params.append(where.type.lower())
    if where.tags:
        marks = ",".join("?" * len(where.tags))
        clauses.append(f"EXISTS (SELECT 1 FROM memo_tags t WHERE t.memo_id = m.id AND t.tag IN ({marks}))")
        params.extend(t.lower() for t in where.tags)
    for name in where.entities:
        # the memo mentions every name: case-insensitive whole words, so "putin" matches "Vladimir Putin"
        # but "put" does not
        key = phrase_key(name)
        if not key:
            clauses.append("0")
            continue
        clauses.append("EXISTS (SELECT 1 FROM entities e WHERE e.memo_id = m.id AND instr(e.key, ?) > 0)")
        params.append(key)
    return (" AND ".join(clauses) or "1"), params
