"""Cached briefs in PostgreSQL, keyed by content hash, method and size; memos without one are the brief queue."""
from __future__ import annotations

import json

from service.storage.postgres.database import Database


class PgBriefs:
    """``BriefCache`` on the ``briefs`` table (bodies kept as JSON text, so they come back as written)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, content_hash: str, method: str, max_sentences: int) -> dict | None:
        row = self._db.one("SELECT body FROM briefs WHERE content_hash = %s AND method = %s AND max_sentences = %s",
                           (content_hash, method, max_sentences))
        return json.loads(row[0]) if row else None

    def put(self, content_hash: str, method: str, max_sentences: int, body: dict) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO briefs(content_hash, method, max_sentences, body) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (content_hash, method, max_sentences) DO UPDATE SET body = excluded.body",
                (content_hash, method, max_sentences, json.dumps(body)),
            )

    def next_pending(self, method: str, max_sentences: int, skip: set[str]) -> str | None:
        row = self._db.one(
            "SELECT m.id FROM memos m WHERE NOT EXISTS (SELECT 1 FROM briefs b WHERE b.content_hash = m.content_hash "
            "AND b.method = %s AND b.max_sentences = %s) AND NOT (m.id = ANY(%s)) ORDER BY m.created_at, m.id LIMIT 1",
            (method, max_sentences, sorted(skip)),
        )
        return row[0] if row else None
