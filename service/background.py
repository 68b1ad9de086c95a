"""A background thread that a store change wakes: the brief worker's and the sentence filler's plumbing."""
from __future__ import annotations

import threading


class Background:
    """Runs ``_run`` (a subclass's loop, which checks ``_stop`` and waits on ``_wake``) in a daemon thread."""

    def __init__(self, name: str) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """New or changed memos: look for work now."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError
