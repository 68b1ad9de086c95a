"""Cached briefs in PostgreSQL, keyed by content hash, method and size; memos without one are the brief queue."""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

from service.storage.postgres.database import Database


class PgBriefs:
    """``BriefCache`` on the ``briefs`` table (bodies kept as JSON text, so they come back as written)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def writing(self, content_hash: str, method: str) -> Iterator[bool]:
        """A session advisory lock on the brief's key, on a connection held for the block: released at the
        end, or by the server when the process holding it dies."""
        key = f"brief:{content_hash}:{method}"
        with self._db.session() as conn:
            mine = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]
            try:
                yield bool(mine)
            finally:
                if mine:
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

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
