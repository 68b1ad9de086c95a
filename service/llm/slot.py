"""One generation at a time: requests queue for the LLM with a timeout, background work yields to them."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from service.errors import Busy


class GenerationSlot:
    """The single LLM context of this process. ``hold()`` waits for it; when ``max_waiting`` requests
    already wait, or the wait exceeds ``timeout``, it raises ``Busy`` (503 with Retry-After) instead of
    letting requests pile up. Background holders only start when no request is waiting and none has held
    the slot for ``quiet_s`` seconds: under a run of requests background work waits for a pause instead of
    starting between two of them, where the next request would wait for it to give way."""

    def __init__(self, timeout_s: float, max_waiting: int, retry_after_s: int, quiet_s: float = 0.0) -> None:
        self.timeout_s = timeout_s
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self.quiet_s = quiet_s
        self._cond = threading.Condition()
        self._busy = False
        self._waiting = 0
        self._request_ended = float("-inf")  # time.monotonic() when the last request released the slot

    def _pause_left(self) -> float | None:
        """Seconds before background work may start: 0 now, None while a request holds or waits for the slot
        (the release wakes the waiters)."""
        if self._busy or self._waiting:
            return None
        return max(0.0, self._request_ended + self.quiet_s - time.monotonic())

    @contextmanager
    def hold(self, background: bool = False) -> Iterator[None]:
        with self._cond:
            if background:
                while (left := self._pause_left()) != 0:
                    self._cond.wait(left)
            else:
                if self._waiting >= self.max_waiting:
                    raise Busy("the local model is busy with other requests", retry_after=self.retry_after_s)
                self._waiting += 1
                try:
                    free = self._cond.wait_for(lambda: not self._busy, self.timeout_s)
                finally:
                    self._waiting -= 1
                if not free:
                    self._cond.notify_all()
                    raise Busy(f"waited {self.timeout_s:g} s for the local model", retry_after=self.retry_after_s)
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                if not background:
                    self._request_ended = time.monotonic()
                self._cond.notify_all()

    def waiting(self) -> int:
        with self._cond:
            return self._waiting
