"""Cached briefs in SQLite, keyed by content hash, method and size; memos without one are the brief queue."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import json

from service.storage.embedded.database import Database


class SqliteBriefs:
    """``BriefCache`` on the ``briefs`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def writing(self, content_hash: str, method: str) -> AbstractContextManager[bool]:
        return nullcontext(True)  # one process owns the data dir: its brief worker is the only writer

    def get(self, content_hash: str, method: str, max_sentences: int) -> dict | None:
        row = self._db.connection().execute(
            "SELECT body FROM briefs WHERE content_hash = ? AND method = ? AND max_sentences = ?",
            (content_hash, method, max_sentences),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, content_hash: str, method: str, max_sentences: int, body: dict) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO briefs(content_hash, method, max_sentences, body) VALUES (?, ?, ?, ?)",
                (content_hash, method, max_sentences, json.dumps(body)),
            )

    def next_pending(self, method: str, max_sentences: int, skip: set[str]) -> str | None:
        marks = ",".join("?" * len(skip))
        row = self._db.connection().execute(
            "SELECT m.id FROM memos m WHERE NOT EXISTS (SELECT 1 FROM briefs b WHERE b.content_hash = m.content_hash "
            f"AND b.method = ? AND b.max_sentences = ?) {f'AND m.id NOT IN ({marks})' if skip else ''} "
            "ORDER BY m.created_at, m.id LIMIT 1",
            [method, max_sentences, *skip],
        ).fetchone()
        return row[0] if row else None
