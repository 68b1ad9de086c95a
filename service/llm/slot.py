"""One generation at a time: requests queue for the LLM with a timeout, background work yields to them."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from service.errors import Busy


class GenerationSlot:
    """The single LLM context of this process. ``hold()`` waits for it; when ``max_waiting`` requests
    already wait, or the wait exceeds ``timeout``, it raises ``Busy`` (503 with Retry-After) instead of
    letting requests pile up. Background holders only start when no request is waiting."""

    def __init__(self, timeout_s: float, max_waiting: int, retry_after_s: int) -> None:
        self.timeout_s = timeout_s
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self._cond = threading.Condition()
        self._busy = False
        self._waiting = 0

    @contextmanager
    def hold(self, background: bool = False) -> Iterator[None]:
        with self._cond:
            if background:
                self._cond.wait_for(lambda: not self._busy and self._waiting == 0)
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
                self._cond.notify_all()

    def waiting(self) -> int:
        with self._cond:
            return self._waiting
