"""Entities in SQLite: written with their memo, read per memo, re-read by a new extractor, counted as facets."""
from __future__ import annotations

import sqlite3
from typing import Iterable, Sequence

from models.nlp.entities import Entity
from service.retrieval.lexical import phrase_key
from service.storage.embedded.database import Database
from service.storage.embedded.filters import filter_sql
from service.storage.shared import named_facets
from service.types import EntityFacet, MemoFilter


def write_entities(conn: sqlite3.Connection, memo_id: str, entities: Iterable[Entity], extractor: str,
                   content_hash: str) -> None:
    """Replace a memo's entities, found by ``extractor`` in the text with ``content_hash``, inside the
    caller's transaction."""
    conn.execute("DELETE FROM entities WHERE memo_id = ?", (memo_id,))
    conn.executemany(
        "INSERT INTO entities(memo_id, start, end, label, text, key) VALUES (?, ?, ?, ?, ?, ?)",
        [(memo_id, e.start, e.end, e.label, e.text, phrase_key(e.text)) for e in entities],
    )
    conn.execute("INSERT OR REPLACE INTO entity_runs(memo_id, extractor, content_hash) VALUES (?, ?, ?)",
                 (memo_id, extractor, content_hash))


def entity_facets(conn: sqlite3.Connection, where: MemoFilter, limit: int) -> list[EntityFacet]:
    """The ``limit`` entities mentioned by the most memos among those that pass ``where``. Mentions with the
    same words are one facet, shown with their most frequent spelling and label."""
    clause, params = filter_sql(where)
    base = f"FROM entities e JOIN memos m ON m.id = e.memo_id WHERE {clause}"
    counts = conn.execute(
        f"SELECT e.key, count(DISTINCT e.memo_id) AS n {base} GROUP BY e.key ORDER BY n DESC, e.key LIMIT ?",
        [*params, limit],
    ).fetchall()
    spellings = conn.execute(f"SELECT e.key, e.text, e.label, count(*) {base} GROUP BY e.key, e.text, e.label", params)
    return named_facets(counts, spellings)


class SqliteEntities:
    """``EntityStore`` on the ``entities`` and ``entity_runs`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def of_memo(self, memo_id: str) -> list[Entity]:
        rows = self._db.connection().execute(
            "SELECT text, label, start, end FROM entities WHERE memo_id = ? ORDER BY start", (memo_id,)
        ).fetchall()
        return [Entity(*r) for r in rows]

    def stale(self, extractor: str, memo_ids: Sequence[str] | None = None) -> list[tuple[str, str]]:
        among, params = "", []
        if memo_ids is not None:
            among, params = f"m.id IN ({','.join('?' * len(memo_ids))}) AND ", list(memo_ids)
        return self._db.connection().execute(
            "SELECT m.id, m.content_hash FROM memos m LEFT JOIN entity_runs r ON r.memo_id = m.id "
            f"WHERE {among}(r.extractor IS NULL OR r.extractor != ? OR r.content_hash != m.content_hash) "
            "ORDER BY m.created_at, m.id",
            [*params, extractor],
        ).fetchall()

    def put(self, memo_id: str, entities: Iterable[Entity], extractor: str, content_hash: str) -> bool:
        with self._db.write() as conn:  # one IMMEDIATE transaction: the check and the write
            # The memo may have been replaced or deleted while its text was being read.
            if conn.execute("SELECT content_hash FROM memos WHERE id = ?", (memo_id,)).fetchone() != (content_hash,):
                return False
            write_entities(conn, memo_id, entities, extractor, content_hash)
            return True
