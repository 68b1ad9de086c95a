"""The producer side of the worker tier: a batch is stored as a job in PostgreSQL first (that is the 202), then
its items are sent as ingest tasks of ``INGEST_BATCH`` items each; a new or changed memo's brief is sent to
the briefs queue. A send that fails (the broker down) is logged, not raised: the job is safe in the
database and the sweeper sends it once the broker answers."""
from __future__ import annotations

import logging
import secrets
from typing import Any, Mapping, Sequence

from service.config import flag
from service.ingest.parse import content_hash, normalise_text
from service.queue import BRIEF_TASK, BRIEFS, INGEST, INGEST_TASK
from service.queue.celery_app import make_celery
from service.storage.base import JobLeases
from service.types import Job, Memo

log = logging.getLogger(__name__)


class CeleryQueue:
    """``Engine.queue`` when ``MEMO_BROKER_URL`` is set over a shared database."""

    def __init__(self, celery, leases: JobLeases, batch: int, briefs: bool) -> None:
        self.celery = celery
        self.leases = leases
        self.batch = batch
        self.briefs = briefs  # send brief tasks (an LLM is configured and background briefs are on)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], leases: JobLeases) -> "CeleryQueue":
        briefs = str(config["LLM"]).lower() != "none" and flag(config, "BRIEF_WORKER")
        return cls(make_celery(config), leases, int(config["INGEST_BATCH"]), briefs)

    def submit(self, items: Sequence[tuple[str, dict]]) -> Job:
        """Store the batch as a job (texts and content hashes), then send its tasks. The first task carries the
        first memo alone, so it is answerable after one memo's embedding rather than a whole batch's."""
        hashes = [content_hash(normalise_text(text)) for text, _ in items]
        job = self.leases.create(secrets.token_hex(8), items, hashes)
        wanted = list(enumerate(hashes))
        if self.send_items(job.id, wanted[:1]):
            self.send_items(job.id, wanted[1:])
        return job

    def send_items(self, job_id: str, wanted: Sequence[tuple[int, str | None]]) -> int:
        """Ingest tasks for some items of a job, ``batch`` items each; how many tasks went out."""
        task, sent = self.celery.tasks[INGEST_TASK], 0
        for start in range(0, len(wanted), self.batch):
            part = [[i, h] for i, h in wanted[start : start + self.batch]]
            if not self._send(task, (job_id, part), INGEST):
                break
            sent += 1
        return sent

    def brief(self, memo: Memo) -> None:
        """The memo's abstractive brief, to be written by a worker on the briefs queue."""
        if self.briefs:
            self.send_brief(memo.id, memo.content_hash)

    def send_brief(self, memo_id: str, content_hash: str | None) -> bool:
        return self._send(self.celery.tasks[BRIEF_TASK], (memo_id, content_hash), BRIEFS)

    def _send(self, task, args: tuple, queue: str) -> bool:
        from kombu.exceptions import OperationalError

        try:
            # one quick retry (a pooled connection gone stale with a restarted broker), not a wait: what is
            # not sent is safe in the database
            task.apply_async(args, queue=queue, retry=True,
                             retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                           "interval_max": 0.2})
            return True
        except (OperationalError, OSError) as exc:
            log.warning("broker unreachable, %s task not sent (the sweeper sends it later): %s", queue, exc)
            return False

    def idle(self, queue: str) -> bool:
        """Whether the broker holds no message waiting on ``queue`` (False when it cannot be asked)."""
        from kombu.exceptions import ChannelError, OperationalError

        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
                try:
                    return conn.default_channel.queue_declare(queue=queue, passive=True).message_count == 0
                except ChannelError:  # Redis keeps no empty queue: not found is empty
                    return True
        except (OperationalError, OSError) as exc:
            log.warning("broker unreachable: %s", exc)
            return False

    def close(self) -> None:
        self.celery.close()
