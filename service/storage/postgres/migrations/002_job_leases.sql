-- Schema 2: job items shared by worker processes (the Celery worker tier). A worker claims an item by taking
-- its lease (owner, expiry by the database's clock) and renews it while it works; an item still queued whose
-- lease ran out, or whose task was sent long ago and is not in the broker, is sent again by the sweeper.
-- attempts counts claims, so an item that kills every worker that takes it is failed, not retried forever.
ALTER TABLE job_items ADD COLUMN content_hash TEXT;
ALTER TABLE job_items ADD COLUMN lease_owner TEXT;
ALTER TABLE job_items ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE job_items ADD COLUMN enqueued_at TIMESTAMPTZ;
ALTER TABLE job_items ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX job_items_open ON job_items(lease_until) WHERE status = 'queued';
