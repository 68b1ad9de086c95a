"""Facet counts over the memos that pass a filter: types, years, tags and entities."""
from __future__ import annotations

from dataclasses import dataclass

from service.entities import EntityFacet, entity_facets
from service.store import MemoFilter, Store


@dataclass(frozen=True)
class Count:
    value: str | None
    memos: int


@dataclass(frozen=True)
class Facets:
    total: int
    types: tuple[Count, ...]
    years: tuple[Count, ...]  # newest first; value None counts the undated memos
    tags: tuple[Count, ...]
    entities: tuple[EntityFacet, ...]


def count_facets(store: Store, where: MemoFilter, entity_limit: int) -> Facets:
    """How the memos that pass ``where`` split by type, year and tag, and the entities most of them mention."""
    clause, params = where.where()
    conn = store.connection()

    def counts(sql: str) -> tuple[Count, ...]:
        return tuple(Count(value, n) for value, n in conn.execute(sql, params))

    total = conn.execute(f"SELECT count(*) FROM memos m WHERE {clause}", params).fetchone()[0]
    types = counts(f"SELECT m.type, count(*) AS n FROM memos m WHERE {clause} AND m.type IS NOT NULL "
                   "GROUP BY m.type ORDER BY n DESC, m.type")
    years = counts(f"SELECT substr(m.date, 1, 4) AS y, count(*) FROM memos m WHERE {clause} "
                   "GROUP BY y ORDER BY y IS NULL, y DESC")
    tags = counts(f"SELECT t.tag, count(*) AS n FROM memo_tags t JOIN memos m ON m.id = t.memo_id WHERE {clause} "
                  "GROUP BY t.tag ORDER BY n DESC, t.tag")
    return Facets(total, types, years, tags, tuple(entity_facets(store, where, entity_limit)))
