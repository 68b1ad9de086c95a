"""The worker tier: bulk ingest and abstractive briefs as Celery tasks on a Redis broker, run by ``memo worker``
processes on any host, with PostgreSQL holding the truth of every job item's state (``MEMO_BROKER_URL``).
Without a broker, or on the embedded backend, the same job code runs in the serving process instead."""
from __future__ import annotations

INGEST = "ingest"  # queue of ingest tasks: a slice of a job's items each
BRIEFS = "briefs"  # queue of abstractive-brief tasks: one memo each
QUEUES = (INGEST, BRIEFS)
INGEST_TASK = "memo.ingest"
BRIEF_TASK = "memo.brief"
