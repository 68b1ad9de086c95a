"""``memo serve``: the app factory under gunicorn (one worker with threads, as the Dockerfile runs it; more
worker processes, ``--workers`` or ``MEMO_WORKERS``, over a shared database)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

from gunicorn.app.base import BaseApplication

# Loading the model and seeding happen in the worker before it answers; give it time.
WORKER_TIMEOUT_S = 300


class MemoServer(BaseApplication):
    """gunicorn with its options from code instead of a command line."""

    def __init__(self, options: dict[str, object]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from service import create_app

        app = create_app()  # in the worker: it opens the data dir and takes its lock
        name_master_as_holder(app.config)
        return app


def name_master_as_holder(config: Mapping[str, Any], master: int | None = None) -> None:
    """The data-dir lock records the pid of the process that took it, gunicorn's worker; the pid to stop is
    the master's (``memo serve`` itself, which restarts a killed worker). Rewrite the holder the refusal
    message names, while the worker keeps the lock itself. No data dir (a database URL): nothing to name."""
    if config.get("DATABASE_URL"):
        return
    from service.storage.embedded import LOCK_FILE

    master = os.getppid() if master is None else master
    with open(Path(config["DATA_DIR"]) / LOCK_FILE, "r+") as holder:  # the lock is advisory: writing is allowed
        holder.write(f"{master} (memo serve; its worker is pid {os.getpid()})")
        holder.truncate()


def check_storage() -> None:
    """Refuse (DataDirLocked) before gunicorn starts when another process holds the data dir; otherwise
    the worker would fail to boot with the same error buried in a traceback."""
    from service.config import load_config
    from service.storage import preflight

    preflight(load_config())


def worker_count(requested: int | None = None) -> int:
    """gunicorn worker processes: ``requested`` (``memo serve --workers``) when given, else ``MEMO_WORKERS``
    (default 1). More than one needs ``MEMO_DATABASE_URL``: the embedded backend's data dir belongs to one
    process."""
    from service.config import load_config
    from service.errors import InvalidInput

    name, raw = ("--workers ", str(requested)) if requested is not None else \
        ("MEMO_WORKERS=", os.environ.get("MEMO_WORKERS", "1"))
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{name.strip(' =')}: expected a whole number >= 1, not {raw!r}")
    if int(raw) > 1 and not load_config().get("DATABASE_URL"):
        raise InvalidInput(f"{name}{raw} needs MEMO_DATABASE_URL: the embedded backend's data dir belongs to "
                           "one process (run one worker with threads, or use PostgreSQL)")
    return int(raw)


def prepare_llm() -> None:
    """Join, verify and (onnxruntime-genai) convert the configured LLM before gunicorn starts: a first
    start's conversion takes about a minute (0.5B) and must not count against the worker's boot timeout. A
    model that cannot be had here is refused now, in one line (``memo serve`` exits 1), not in a traceback
    from gunicorn's worker."""
    from service.config import load_config
    from service.llm.choice import prepare_generator

    choice = str(load_config()["LLM"]).lower()
    if choice != "none":
        prepare_generator(choice)


def run(host: str, port: int, threads: int, workers: int | None = None) -> None:
    """Serve under gunicorn; ``workers``: processes (None: ``MEMO_WORKERS``, default 1)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workers = worker_count(workers)
    check_storage()
    prepare_llm()
    MemoServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": WORKER_TIMEOUT_S,
            "graceful_timeout": 30,
            "accesslog": "-",
        }
    ).run()
