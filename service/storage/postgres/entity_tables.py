"""Entities in PostgreSQL: written with their memo, read per memo, re-read by a new extractor, counted as facets."""
from __future__ import annotations

from typing import Iterable, Sequence

import psycopg

from models.nlp.entities import Entity
from service.retrieval.lexical import phrase_key
from service.storage.postgres.database import Database
from service.storage.postgres.filters import filter_sql
from service.storage.shared import named_facets
from service.types import EntityFacet, MemoFilter


def write_entities(conn: psycopg.Connection, memo_id: str, entities: Iterable[Entity], extractor: str,
                   content_hash: str) -> None:
    """Replace a memo's entities, found by ``extractor`` in the text with ``content_hash``, inside the
    caller's transaction."""
    conn.execute("DELETE FROM entities WHERE memo_id = %s", (memo_id,))
    rows = [(memo_id, e.start, e.end, e.label, e.text, phrase_key(e.text)) for e in entities]
    if rows:
        conn.cursor().executemany(
            'INSERT INTO entities(memo_id, start, "end", label, text, key) VALUES (%s, %s, %s, %s, %s, %s) '
            "ON CONFLICT (memo_id, start) DO UPDATE SET \"end\" = excluded.\"end\", label = excluded.label, "
            "text = excluded.text, key = excluded.key", rows)
    conn.execute("INSERT INTO entity_runs(memo_id, extractor, content_hash) VALUES (%s, %s, %s) "
                 "ON CONFLICT (memo_id) DO UPDATE SET extractor = excluded.extractor, "
                 "content_hash = excluded.content_hash", (memo_id, extractor, content_hash))


def entity_facets(conn: psycopg.Connection, where: MemoFilter, limit: int) -> list[EntityFacet]:
    """The ``limit`` entities mentioned by the most memos among those that pass ``where``; mentions with
    the same words are one facet, shown with their most frequent spelling and label (the first in
    key, text, label order on a tie, as in the embedded backend)."""
    clause, params = filter_sql(where)
    base = f"FROM entities e JOIN memos m ON m.id = e.memo_id WHERE {clause}"
    counts = conn.execute(
        f"SELECT e.key, count(DISTINCT e.memo_id) AS n {base} GROUP BY e.key ORDER BY n DESC, e.key LIMIT %s",
        [*params, limit],
    ).fetchall()
    spellings = conn.execute(
        f"SELECT e.key, e.text, e.label, count(*) {base} AND e.key = ANY(%s) GROUP BY e.key, e.text, e.label "
        "ORDER BY e.key, e.text, e.label", [*params, [key for key, _ in counts]]
    )
    return named_facets(counts, spellings)


class PgEntities:
    """``EntityStore`` on the ``entities`` and ``entity_runs`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def of_memo(self, memo_id: str) -> list[Entity]:
        rows = self._db.all('SELECT text, label, start, "end" FROM entities WHERE memo_id = %s ORDER BY start',
                            (memo_id,))
        return [Entity(*r) for r in rows]

    def stale(self, extractor: str, memo_ids: Sequence[str] | None = None) -> list[tuple[str, str]]:
        among, params = ("", []) if memo_ids is None else ("m.id = ANY(%s) AND ", [list(memo_ids)])
        return [tuple(r) for r in self._db.all(
            "SELECT m.id, m.content_hash FROM memos m LEFT JOIN entity_runs r ON r.memo_id = m.id "
            f"WHERE {among}(r.extractor IS NULL OR r.extractor <> %s OR r.content_hash <> m.content_hash) "
            "ORDER BY m.created_at, m.id", (*params, extractor))]

    def put(self, memo_id: str, entities: Iterable[Entity], extractor: str, content_hash: str) -> bool:
        with self._db.write() as conn:
            # the row lock holds off a replace or delete until this write commits
            row = conn.execute("SELECT content_hash FROM memos WHERE id = %s FOR UPDATE", (memo_id,)).fetchone()
            if row is None or row[0] != content_hash:
                return False
            write_entities(conn, memo_id, entities, extractor, content_hash)
            return True
