"""The Celery app, built from the service's config layers (no module-level app): two queues, late acks, one
message per worker thread at a time, a visibility timeout above the slowest task. Tasks are thin: they call
the ``WorkerContext`` the running process attached (``app.memo_context``)."""
from __future__ import annotations

from typing import Any, Mapping

from celery import Celery
from kombu import Queue

from service.queue import BRIEF_TASK, BRIEFS, INGEST, INGEST_TASK


def make_celery(config: Mapping[str, Any]) -> Celery:
    app = Celery("memo", set_as_current=False)
    app.conf.update(
        broker_url=str(config["BROKER_URL"]),
        broker_connection_retry_on_startup=True,
        # Redis hands an unacknowledged message to another worker after this long: above the slowest task, or
        # a long batch would run twice (leases make that harmless, but it is work done twice)
        broker_transport_options={"visibility_timeout": int(config["BROKER_VISIBILITY_TIMEOUT_S"]),
                                  "socket_connect_timeout": 5},
        task_queues=(Queue(INGEST), Queue(BRIEFS)),
        task_default_queue=INGEST,
        task_routes={INGEST_TASK: {"queue": INGEST}, BRIEF_TASK: {"queue": BRIEFS}},
        task_acks_late=True,  # acknowledged when done: a worker that dies leaves its message to be delivered again
        task_reject_on_worker_lost=True,  # a pool process killed mid-task: the message goes back, not away
        worker_prefetch_multiplier=1,  # one message per thread: the rest stay in the broker for other workers
        # a thread cannot be killed: a task in hand when the broker goes away finishes its work in the database;
        # its message comes back (or is gone with the broker) and a second delivery claims nothing
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_ignore_result=True,  # progress is in PostgreSQL (GET /jobs/{id}), not in a result backend
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    @app.task(name=INGEST_TASK, shared=False)
    def ingest(job_id: str, items: list[list]) -> int:
        """Store items ``[index, content hash]`` of a job; how many this delivery claimed."""
        return _context(app).ingest(job_id, [(int(i), h) for i, h in items])

    @app.task(name=BRIEF_TASK, shared=False)
    def brief(memo_id: str, content_hash: str) -> str:
        """Write and cache a memo's abstractive brief (for the text ``content_hash``)."""
        return _context(app).brief(memo_id, content_hash)

    return app


def _context(app: Celery):
    context = getattr(app, "memo_context", None)
    if context is None:
        raise RuntimeError("memo tasks run in `memo worker` (no worker context in this process)")
    return context
