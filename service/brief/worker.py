"""Abstractive briefs computed ahead, after ingest: one memo at a time in a background thread.

The queue is the store itself (memos whose brief for the current model is not cached yet), so it is
bounded by the store, costs no memory, and survives restarts."""
from __future__ import annotations

import logging
from typing import Callable

from service.background import Background
from service.brief.abstractive import GaveWay

log = logging.getLogger(__name__)


class BriefWorker(Background):
    def __init__(self, next_pending: Callable[[set[str]], str | None], make_brief: Callable[[str], bool],
                 idle_s: float = 60.0) -> None:
        super().__init__("brief-worker")
        self._next_pending = next_pending
        self._make_brief = make_brief  # True once the memo's brief is cached (or the memo is gone)
        self._idle_s = idle_s
        self._failed: set[str] = set()  # retried after a restart, not in a loop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                memo_id = self._next_pending(self._failed)
            except Exception:  # the store closed under us, or a transient SQLite error
                log.exception("brief worker: could not read the queue")
                memo_id = None
            if memo_id is None:
                self._wake.wait(self._idle_s)
                self._wake.clear()
                continue
            try:
                if not self._make_brief(memo_id):
                    # No sentence of the model's brief held up against the memo: the extractive brief was
                    # served and nothing was cached, so the memo is still pending. Greedy decoding would
                    # write the same brief again.
                    log.info("brief worker: no supported abstractive brief for memo %s", memo_id)
                    self._failed.add(memo_id)
            except GaveWay:  # a request wanted the model: the memo stays pending, taken again once it is free
                log.debug("brief worker: memo %s gave way to a request", memo_id)
            except Exception:
                log.exception("brief worker: no abstractive brief for memo %s", memo_id)
                self._failed.add(memo_id)
