"""What the worker tier's tasks do, over the process's one engine: claim job items under a lease, store them
with the job code the in-process runner uses, finish them (idempotently); write a memo's abstractive brief
once per text and model."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Sequence

from service.brief.briefer import ABSTRACTIVE
from service.ingest.jobs import store_items
from service.storage.base import JobLeases

if TYPE_CHECKING:  # the engine is handed in; this module does not build one
    from service.engine import Engine

log = logging.getLogger(__name__)


class WorkerContext:
    """One per worker process: its engine, and the name its leases go by (``owner``)."""

    def __init__(self, engine: "Engine", leases: JobLeases, owner: str, lease_s: float) -> None:
        self.engine = engine
        self.leases = leases
        self.owner = owner
        self.lease_s = lease_s
        self._failed_briefs: set[str] = set()  # not supported by the memo: greedy decoding would write the same
        self._lock = threading.Lock()

    def ingest(self, job_id: str, wanted: Sequence[tuple[int, str | None]]) -> int:
        """Store the items ``(index, content hash)`` this delivery can claim; how many. Items finished already,
        or held by a live worker, are left alone: a task delivered twice does the work once."""
        items = self.leases.claim(job_id, wanted, self.owner, self.lease_s)
        if not items:
            return 0
        try:
            finished = store_items(self.engine.intake, items)
        except BaseException:
            # the items wait for the sweeper (a failing database, say); a memo stored meanwhile is found by
            # its content hash next time
            self.leases.release(job_id, [i.index for i in items], self.owner)
            raise
        self.engine.storage.jobs.finish_items(job_id, finished)
        return len(items)

    def brief(self, memo_id: str, content_hash: str | None) -> str:
        """Cache the memo's abstractive brief unless it is cached already, the memo is gone or holds another
        text than ``content_hash`` (that text's own task comes), or the model's brief did not hold up before."""
        memo = self.engine.storage.memos.get(memo_id)
        if memo is None or (content_hash is not None and memo.content_hash != content_hash):
            return "gone"
        status = self.engine.brief_status(memo)
        if status != "pending":
            return status  # ready, or off (no LLM in this process)
        with self._lock:
            if memo_id in self._failed_briefs:
                return "unsupported"
        method = self.engine.briefs.method(ABSTRACTIVE)
        with self.engine.storage.briefs.writing(memo.content_hash, method) as mine:
            if not mine:  # another worker is writing it (a sweep re-sent it meanwhile): its cache entry will do
                return "busy"
            if not self.engine.precompute_brief(memo_id):
                log.info("no supported abstractive brief for memo %s", memo_id)
                with self._lock:
                    self._failed_briefs.add(memo_id)
                return "unsupported"
        return "written"

    def failed_briefs(self) -> set[str]:
        with self._lock:
            return set(self._failed_briefs)
