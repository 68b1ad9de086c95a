"""``memo worker``: a Celery worker over the service's engine. One engine per process (models loaded once,
shared by ``concurrency`` threads: the embedder leaves the GIL while it computes, the LLM runs in a child process); scale
out with more processes or hosts. Needs ``MEMO_BROKER_URL`` and a shared database (``MEMO_DATABASE_URL``)."""
from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import Any, Mapping, Sequence

from service.errors import InvalidInput
from service.queue import BRIEFS, QUEUES
from service.queue.tasks import WorkerContext
from service.queue.upkeep import Upkeep, UpkeepSettings

log = logging.getLogger(__name__)


def check_worker_config(config: Mapping[str, Any], queues: Sequence[str]) -> None:
    if not config.get("BROKER_URL"):
        raise InvalidInput("memo worker needs MEMO_BROKER_URL (redis://host:6379/0): the queue it takes work from")
    if not config.get("DATABASE_URL"):
        raise InvalidInput("memo worker needs MEMO_DATABASE_URL (postgresql://...): workers and servers share the "
                           "jobs and memos there. On the embedded backend jobs run inside memo serve")
    unknown = [q for q in queues if q not in QUEUES]
    if unknown or not queues:
        raise InvalidInput(f"--queues: {', '.join(unknown) or 'none given'}; the queues are {', '.join(QUEUES)}")


def run_worker(concurrency: int, queues: Sequence[str], overrides: Mapping[str, Any] | None = None) -> int:
    """Consume ``queues`` with ``concurrency`` threads until a stop signal (SIGTERM, Ctrl-C: the tasks in hand
    finish first); returns the exit code."""
    from service.config import load_config
    from service.engine import build_engine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(overrides)
    check_worker_config(config, queues)
    queues = list(dict.fromkeys(queues))
    engine = build_engine(config, load_llm=BRIEFS in queues)
    upkeep = None
    try:
        queue = engine.queue
        if queue is None:
            raise InvalidInput("the configured database cannot be shared by workers")
        if BRIEFS in queues and engine.writer is None:
            log.warning("MEMO_LLM=none: no abstractive briefs to write, the briefs queue is left to other workers")
            queues.remove(BRIEFS)
            if not queues:
                raise InvalidInput("nothing to consume: --queues briefs needs an LLM (MEMO_LLM)")
        settings = UpkeepSettings.from_config(config)
        owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        context = WorkerContext(engine, engine.storage.leases, owner, settings.lease_s)
        queue.celery.memo_context = context
        upkeep = Upkeep(context, queue, settings, briefs=BRIEFS in queues)
        upkeep.start()  # its first sweep runs now: work left by a dead worker or an emptied broker
        log.info("memo worker %s: queues %s, %d threads", owner, ",".join(queues), concurrency)
        worker = queue.celery.Worker(pool_cls="threads", concurrency=concurrency, queues=queues,
                                     hostname=f"memo-{os.getpid()}@{socket.gethostname()}", loglevel="INFO",
                                     without_mingle=True, without_gossip=True)
        worker.start()
        return int(worker.exitcode or 0)
    finally:
        if upkeep is not None:
            upkeep.stop()
        engine.close()
