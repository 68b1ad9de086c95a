"""A worker process's upkeep thread: the heartbeat that renews the leases it holds, and the sweeper (at start,
then every ``sweep_s``) that sends again the work PostgreSQL shows unfinished with no live owner: job items
whose lease ran out (a worker killed), items whose task the broker lost (a Redis restart: sent again once the
queue is empty and ``requeue_s`` has passed), and memos still without their abstractive brief."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

from service.queue import BRIEFS, INGEST
from service.queue.dispatch import CeleryQueue
from service.queue.tasks import WorkerContext

log = logging.getLogger(__name__)

BRIEFS_PER_SWEEP = 50


@dataclass(frozen=True)
class UpkeepSettings:
    lease_s: float = 60.0  # a claimed item's lease; renewed every lease_s / 4 while its owner lives
    sweep_s: float = 30.0
    requeue_s: float = 120.0  # an item queued this long with no owner, the broker's queue empty: sent again
    max_attempts: int = 5  # claims of one item before it fails (it stopped every worker that took it)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "UpkeepSettings":
        return cls(float(config["WORKER_LEASE_S"]), float(config["WORKER_SWEEP_S"]),
                   float(config["WORKER_REQUEUE_S"]), int(config["WORKER_MAX_ATTEMPTS"]))


class Upkeep:
    def __init__(self, context: WorkerContext, queue: CeleryQueue, settings: UpkeepSettings, briefs: bool) -> None:
        self.context = context
        self.queue = queue
        self.settings = settings
        self.briefs = briefs  # this worker writes briefs: it also sweeps for missing ones
        self._sent_briefs: dict[str, float] = {}  # memo id -> when its brief task was sent by a sweep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memo-upkeep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        tick = max(0.05, min(self.settings.lease_s / 4, self.settings.sweep_s))
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                self.context.leases.renew(self.context.owner, self.settings.lease_s)
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.settings.sweep_s
            except Exception:  # the database or the broker away for a while: try again next tick
                log.exception("worker upkeep")
            self._stop.wait(tick)

    def sweep(self) -> tuple[int, int]:
        """Send again what has no live owner; ``(ingest tasks, brief tasks)`` sent."""
        requeue = self.settings.requeue_s if self.queue.idle(INGEST) else None
        found = self.context.leases.sweep(requeue, self.settings.max_attempts)
        tasks = sum(self.queue.send_items(job_id, wanted) for job_id, wanted in found.items())
        if found:
            log.info("sweeper: %d items of %d jobs sent again (%d tasks)", sum(map(len, found.values())),
                     len(found), tasks)
        return tasks, self._sweep_briefs()

    def _sweep_briefs(self) -> int:
        if not self.briefs or not self.queue.idle(BRIEFS):
            return 0
        now = time.monotonic()
        self._sent_briefs = {m: t for m, t in self._sent_briefs.items() if now - t < self.settings.requeue_s}
        skip = set(self._sent_briefs) | self.context.failed_briefs()
        sent = 0
        while sent < BRIEFS_PER_SWEEP and (memo_id := self.context.engine.briefs.next_pending(skip)) is not None:
            skip.add(memo_id)
            if not self.queue.send_brief(memo_id, None):
                break
            self._sent_briefs[memo_id] = now
            sent += 1
        return sent
