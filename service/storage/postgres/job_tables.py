"""Ingest jobs in PostgreSQL: a batch's texts kept until each memo is stored; unfinished jobs are the queue.

Worker processes share the items through leases (``JobLeases``): an item is claimed by one owner until a
time the database's clock sets, renewed while the owner works; the sweeper sends again what has no live
owner. Finishing an item is idempotent (only a queued item is finished), so a task delivered twice neither
stores a memo twice (the content hash is unique) nor counts it twice."""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Sequence

from service.storage.postgres.database import Database
from service.storage.shared import job_of, utc_now
from service.types import Job, JobItem

# pg_try_advisory_xact_lock key of the sweeper: one sweep at a time across every worker ("swee" in ASCII)
_SWEEP_LOCK = 0x73776565


class PgJobs:
    """``JobStore`` and ``JobLeases`` on the ``jobs`` and ``job_items`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, job_id: str, items: Sequence[tuple[str, dict]], hashes: Sequence[str] | None = None) -> Job:
        now = utc_now()
        with self._db.write() as conn:
            conn.execute("INSERT INTO jobs(id, status, total, created_at, updated_at) "
                         "VALUES (%s, 'queued', %s, %s, %s)", (job_id, len(items), now, now))
            with conn.cursor().copy("COPY job_items (job_id, idx, text, meta, status, content_hash, enqueued_at) "
                                    "FROM STDIN") as copy:
                for i, (text, meta) in enumerate(items):
                    copy.write_row((job_id, i, text, json.dumps(meta), "queued", hashes[i] if hashes else None, now))
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
            cursor = conn.cursor()
            cursor.executemany(  # only a queued item: a second delivery of its task changes nothing
                "UPDATE job_items SET status = %s, memo_id = %s, error = %s, text = NULL, lease_owner = NULL, "
                "lease_until = NULL WHERE job_id = %s AND idx = %s AND status = 'queued'",
                [("indexed" if memo_id else "failed", memo_id, None if memo_id else (error or "not stored"), job_id, i)
                 for i, memo_id, error in results],
            )
            if cursor.rowcount > 0:  # nothing finished (a late report of a dead owner): the job is untouched
                self._settle(conn, job_id)

    @staticmethod
    def _settle(conn, job_id: str) -> None:
        """The job is ``done`` once no item is queued, else ``running``."""
        left = conn.execute("SELECT count(*) FROM job_items WHERE job_id = %s AND status = 'queued'",
                            (job_id,)).fetchone()[0]
        conn.execute("UPDATE jobs SET status = %s, updated_at = %s WHERE id = %s",
                     ("running" if left else "done", utc_now(), job_id))

    def unfinished(self) -> list[str]:
        rows = self._db.all("SELECT j.id FROM jobs j WHERE EXISTS (SELECT 1 FROM job_items i WHERE i.job_id = j.id "
                            "AND i.status = 'queued') ORDER BY j.created_at, j.id")
        return [r[0] for r in rows]

    # -- JobLeases ------------------------------------------------------------------------------------

    def claim(self, job_id: str, wanted: Sequence[tuple[int, str | None]], owner: str, lease_s: float) -> list[JobItem]:
        indexes = [int(i) for i, _ in wanted]
        hashes = [h for _, h in wanted]
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", (job_id,)).fetchone() is None:
                return []
            rows = conn.execute(
                "UPDATE job_items j SET lease_owner = %s, lease_until = now() + make_interval(secs => %s), "
                "attempts = attempts + 1 FROM unnest(%s::int[], %s::text[]) AS w(idx, hash) "
                "WHERE j.job_id = %s AND j.idx = w.idx AND j.content_hash IS NOT DISTINCT FROM w.hash "
                "AND j.status = 'queued' AND (j.lease_until IS NULL OR j.lease_until < now()) "
                "RETURNING j.idx, j.text, j.meta",
                (owner, float(lease_s), indexes, hashes, job_id),
            ).fetchall()
            if rows:
                conn.execute("UPDATE jobs SET status = 'running', updated_at = %s WHERE id = %s AND status = 'queued'",
                             (utc_now(), job_id))
        return [JobItem(i, text, json.loads(meta)) for i, text, meta in sorted(rows)]

    def renew(self, owner: str, lease_s: float) -> int:
        with self._db.write() as conn:
            return conn.execute("UPDATE job_items SET lease_until = now() + make_interval(secs => %s) "
                                "WHERE lease_owner = %s AND status = 'queued'", (float(lease_s), owner)).rowcount

    def release(self, job_id: str, indexes: Sequence[int], owner: str) -> None:
        with self._db.write() as conn:
            conn.execute("UPDATE job_items SET lease_owner = NULL, lease_until = NULL, enqueued_at = now() "
                         "WHERE job_id = %s AND idx = ANY(%s) AND lease_owner = %s AND status = 'queued'",
                         (job_id, [int(i) for i in indexes], owner))

    def sweep(self, requeue_after_s: float | None, max_attempts: int) -> dict[str, list[tuple[int, str | None]]]:
        with self._db.write() as conn:
            if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_SWEEP_LOCK,)).fetchone()[0]:
                return {}  # another worker is sweeping right now
            dead = "status = 'queued' AND lease_until < now()"
            lost = ("status = 'queued' AND lease_until IS NULL AND (enqueued_at IS NULL "  # NULL: a job from schema 1
                    "OR enqueued_at < now() - make_interval(secs => %s))")
            given_up = conn.execute(
                f"UPDATE job_items SET status = 'failed', text = NULL, lease_owner = NULL, lease_until = NULL, "
                f"error = 'gave up after ' || attempts || ' attempts (every worker that took it stopped or failed)' "
                f"WHERE attempts >= %s AND status = 'queued' AND (lease_until IS NULL OR lease_until < now()) "
                f"RETURNING job_id", (max_attempts,)).fetchall()
            for job_id in sorted({r[0] for r in given_up}):
                self._settle(conn, job_id)
            rows = conn.execute(
                f"UPDATE job_items SET lease_owner = NULL, lease_until = NULL, enqueued_at = now() "
                f"WHERE ({dead})" + (f" OR ({lost})" if requeue_after_s is not None else "") +
                " RETURNING job_id, idx, content_hash",
                (float(requeue_after_s),) if requeue_after_s is not None else None).fetchall()
        found: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        for job_id, idx, content_hash in sorted(rows):
            found[job_id].append((idx, content_hash))
        return dict(found)
