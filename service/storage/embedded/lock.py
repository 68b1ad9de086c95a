"""One process owns a data dir: an exclusive ``flock`` held for the life of the embedded backend."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from service.errors import DataDirLocked


class DataDirLock:
    """Taken at once or refused with DataDirLocked naming the pid that holds it."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise DataDirLocked(
                f"{path.parent} is in use by pid {holder}; stop that process or talk to it over HTTP"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
