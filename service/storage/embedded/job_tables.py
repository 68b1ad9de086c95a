"""Ingest jobs in SQLite: a batch's texts kept until each memo is stored; unfinished jobs are the queue."""
from __future__ import annotations

import json
from typing import Sequence

from service.storage.embedded.database import Database
from service.storage.shared import job_of, utc_now
from service.types import Job, JobItem

JOB_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job_items (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    text TEXT,
    meta TEXT NOT NULL,
    status TEXT NOT NULL,
    memo_id TEXT,
    error TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS job_items_queued ON job_items(job_id, status);
"""


class SqliteJobs:
    """``JobStore`` on the ``jobs`` and ``job_items`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, job_id: str, items: Sequence[tuple[str, dict]]) -> Job:
        now = utc_now()
        with self._db.write() as conn:
            conn.execute("INSERT INTO jobs(id, status, total, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                         (job_id, len(items), now, now))
            conn.executemany(
                "INSERT INTO job_items(job_id, idx, text, meta, status) VALUES (?, ?, ?, ?, 'queued')",
                [(job_id, i, text, json.dumps(meta)) for i, (text, meta) in enumerate(items)],
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        conn = self._db.connection()
        with self._db.snapshot():
            row = conn.execute("SELECT id, status, total, created_at, updated_at FROM jobs WHERE id = ?",
                               (job_id,)).fetchone()
            if row is None:
                return None
            items = conn.execute("SELECT idx, status, memo_id, error FROM job_items WHERE job_id = ? ORDER BY idx",
                                 (job_id,)).fetchall()
        return job_of(row, items)

    def pending(self, job_id: str, limit: int) -> list[JobItem]:
        rows = self._db.connection().execute(
            "SELECT idx, text, meta FROM job_items WHERE job_id = ? AND status = 'queued' ORDER BY idx LIMIT ?",
            (job_id, limit),
        ).fetchall()
        return [JobItem(i, text, json.loads(meta)) for i, text, meta in rows]

    def finish_items(self, job_id: str, results: Sequence[tuple[int, str | None, str | None]]) -> None:
        with self._db.write() as conn:
            changed = conn.executemany(  # only a queued item: a second report of it changes nothing
                "UPDATE job_items SET status = ?, memo_id = ?, error = ?, text = NULL "
                "WHERE job_id = ? AND idx = ? AND status = 'queued'",
                [("indexed" if memo_id else "failed", memo_id, None if memo_id else (error or "not stored"), job_id, i)
                 for i, memo_id, error in results],
            ).rowcount
            if not changed:
                return
            left = conn.execute("SELECT count(*) FROM job_items WHERE job_id = ? AND status = 'queued'",
                                (job_id,)).fetchone()[0]
            conn.execute("UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?",
                         ("running" if left else "done", utc_now(), job_id))

    def unfinished(self) -> list[str]:
        rows = self._db.connection().execute(
            "SELECT j.id FROM jobs j WHERE EXISTS (SELECT 1 FROM job_items i WHERE i.job_id = j.id "
            "AND i.status = 'queued') ORDER BY j.created_at, j.id"
        ).fetchall()
        return [r[0] for r in rows]
