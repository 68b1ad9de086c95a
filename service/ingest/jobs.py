"""Batches of memos ingested in the background: accepted (202) as soon as their texts are stored in a job,
then embedded and stored a batch at a time; a job left unfinished by a crash resumes at the next start."""
from __future__ import annotations

import logging
import queue
import secrets
import threading
from datetime import date as Date
from typing import Any, Sequence

from service.errors import InvalidInput
from service.ingest.intake import Intake
from service.storage.base import JobStore
from service.types import Job, JobItem

log = logging.getLogger(__name__)

_STOP = object()


def job_meta(fields: dict[str, Any]) -> dict[str, Any]:
    """A memo's metadata as a job keeps it (JSON: dates as ISO strings, tags as a list)."""
    out = {k: v for k, v in fields.items() if v is not None and k != "text"}
    if isinstance(out.get("date"), Date):
        out["date"] = out["date"].isoformat()
    if "tags" in out:
        out["tags"] = list(out["tags"])
    return out


def store_items(intake: Intake, items: Sequence[JobItem]) -> list[tuple[int, str | None, str | None]]:
    """Store some items of a job with one embedding call: ``(index, memo id, None)`` per stored item (or
    found stored: the same text is one memo), ``(index, None, why)`` per item that could not be. The one
    piece of job work every runner shares: this process's thread and the worker tier's tasks."""
    results = intake.ingest_many([(i.text, i.meta) for i in items], skip_invalid=True)
    return [(item.index, memo.id, None) if memo else (item.index, None, _why(intake, item.text, item.meta))
            for item, (memo, _) in zip(items, results)]


def _why(intake: Intake, text: str, meta: dict) -> str:
    """Why a text was not stored (the same checks as ``POST /memos``)."""
    try:
        intake.prep.draft(text, **meta)
    except InvalidInput as exc:
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.detail.items()) \
            if isinstance(exc.detail, dict) else str(exc.detail)
    return "not stored"


class JobRunner:
    """Runs ingest jobs one at a time on a thread of this process, ``batch`` memos per embedding call."""

    def __init__(self, jobs: JobStore, intake: Intake, batch: int) -> None:
        self.jobs = jobs
        self.intake = intake
        self.batch = batch
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def submit(self, items: Sequence[tuple[str, dict]]) -> Job:
        """Store the batch as a job (every text kept until its memo is stored), then queue it."""
        job = self.jobs.create(secrets.token_hex(8), items)
        self._start()
        self._queue.put(job.id)
        return job

    def resume(self) -> int:
        """Queue the jobs a previous run left unfinished; returns how many."""
        unfinished = self.jobs.unfinished()
        if unfinished:
            log.info("resuming %d unfinished ingest jobs", len(unfinished))
            self._start()
            for job_id in unfinished:
                self._queue.put(job_id)
        return len(unfinished)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ingest-jobs", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while (job_id := self._queue.get()) is not _STOP and not self._stopping.is_set():
            try:
                self.run(job_id)
            except Exception:  # the items stay queued: the next start resumes them
                log.exception("ingest job %s stopped", job_id)

    def run(self, job_id: str) -> None:
        """Store every queued item of a job, ``batch`` at a time; each item ends indexed or failed."""
        while not self._stopping.is_set() and (items := self.jobs.pending(job_id, self.batch)):
            self.jobs.finish_items(job_id, store_items(self.intake, items))

    def stop(self) -> None:
        """Stop after the batch in hand (what is left stays queued for the next start)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._queue.put(_STOP)
            thread.join()
