"""Ingest jobs in PostgreSQL: a batch's texts kept until each memo is stored; unfinished jobs are the queue."""
from __future__ import annotations

import json
from typing import Sequence

from service.storage.postgres.database import Database
from service.storage.shared import job_of, utc_now
from service.types import Job, JobItem


class PgJobs:
    """``JobStore`` on the ``jobs`` and ``job_items`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, job_id: str, items: Sequence[tuple[str, dict]]) -> Job:
        now = utc_now()
        with self._db.write() as conn:
            conn.execute("INSERT INTO jobs(id, status, total, created_at, updated_at) VALUES (%s, 'queued', %s, %s, %s)",
                         (job_id, len(items), now, now))
            with conn.cursor().copy("COPY job_items (job_id, idx, text, meta, status) FROM STDIN") as copy:
                for i, (text, meta) in enumerate(items):
                    copy.write_row((job_id, i, text, json.dumps(meta), "queued"))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._db.snapshot(), self._db.read() as conn:
            row = conn.execute("SELECT id, status, total, created_at, updated_at FROM jobs WHERE id = %s",
                               (job_id,)).fetchone()
            if row is None:
                return None
            items = conn.execute("SELECT idx, status, memo_id, error FROM job_items WHERE job_id = %s ORDER BY idx",
                                 (job_id,)).fetchall()
        return job_of(row, items)

    def pending(self, job_id: str, limit: int) -> list[JobItem]:
        rows = self._db.all("SELECT idx, text, meta FROM job_items WHERE job_id = %s AND status = 'queued' "
                            "ORDER BY idx LIMIT %s", (job_id, limit))
        return [JobItem(i, text, json.loads(meta)) for i, text, meta in rows]

    def finish_items(self, job_id: str, results: Sequence[tuple[int, str | None, str | None]]) -> None:
        with self._db.write() as conn:
            # the job row first: two runners finishing items of one job take turns
            conn.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
            conn.cursor().executemany(
                "UPDATE job_items SET status = %s, memo_id = %s, error = %s, text = NULL WHERE job_id = %s AND idx = %s",
                [("indexed" if memo_id else "failed", memo_id, None if memo_id else (error or "not stored"), job_id, i)
                 for i, memo_id, error in results],
            )
            left = conn.execute("SELECT count(*) FROM job_items WHERE job_id = %s AND status = 'queued'",
                                (job_id,)).fetchone()[0]
            conn.execute("UPDATE jobs SET status = %s, updated_at = %s WHERE id = %s",
                         ("running" if left else "done", utc_now(), job_id))

    def unfinished(self) -> list[str]:
        rows = self._db.all("SELECT j.id FROM jobs j WHERE EXISTS (SELECT 1 FROM job_items i WHERE i.job_id = j.id "
                            "AND i.status = 'queued') ORDER BY j.created_at, j.id")
        return [r[0] for r in rows]
