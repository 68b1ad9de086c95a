"""Saving the vector index in the background: at most every few seconds while it has unsaved changes."""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class IndexSaver:
    """Writes the index at most every ``interval`` seconds while it has unsaved changes, from a daemon
    thread, and once more on ``stop``. ``interval`` 0: ``changed`` saves at once, in the caller's thread.

    A save copies the whole index, so saving after every memo would cost O(index size) per write (about
    0.3 s at 65k vectors); SQLite stays the source of truth, and a start after a crash catches the index
    up from it (``catch_up``)."""

    def __init__(self, save: Callable[[], None], interval: float) -> None:
        self._save = save
        self.interval = interval
        self._dirty = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        if interval > 0:
            self._thread = threading.Thread(target=self._run, name="index-saver", daemon=True)
            self._thread.start()

    def changed(self) -> None:
        """The index changed; callers hold the backend's write lock."""
        if self.interval <= 0:
            self._save()
            return
        with self._lock:
            self._dirty = True

    def flush(self) -> None:
        """Save now if anything is unsaved."""
        with self._lock:
            dirty, self._dirty = self._dirty, False
        if dirty:
            try:
                self._save()
            except BaseException:
                with self._lock:
                    self._dirty = True
                raise

    def _run(self) -> None:
        while not self._wake.wait(self.interval):
            try:
                self.flush()
            except Exception:  # a full disk must not kill the thread: the next round tries again
                log.exception("saving the index failed; retrying in %s s", self.interval)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
