"""The worker tier's task code in Celery's eager mode over PostgreSQL (no broker is contacted): a batch is
stored as a job, then ingested by the same tasks a `memo worker` runs; a task delivered twice, an owner that
dies, a lost message and an item that kills every worker each end with every memo stored once and counted once."""
from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from service import create_app
from service.cli import main
from service.ingest.parse import content_hash, normalise_text
from service.queue import INGEST_TASK
from service.queue.tasks import WorkerContext
from tests.test_engine import MEMO_A, MEMO_B, MEMO_C
from tests.test_llm_tier import SEED_LIKE

BROKER = "redis://127.0.0.1:6379/15"  # never contacted: eager mode runs each task where it is sent


def _eager(app, owner: str = "test-worker", lease_s: float = 30.0) -> WorkerContext:
    engine = app.extensions["memo"]
    celery = engine.queue.celery
    celery.conf.task_always_eager = True
    celery.conf.task_eager_propagates = True
    celery.memo_context = WorkerContext(engine, engine.storage.leases, owner, lease_s)
    return celery.memo_context


@pytest.fixture
def queued_app(config, database_url):
    app = create_app({**config, "DATABASE_URL": database_url, "BROKER_URL": BROKER})
    _eager(app)
    yield app
    app.extensions["memo"].close()


def _hashed(texts):
    return [content_hash(normalise_text(t)) for t in texts]


def test_a_batch_runs_through_the_tasks_and_ends_done(queued_app):
    client = queued_app.test_client()
    memos = [{"text": MEMO_A, "tags": ["ports"]}, {"text": MEMO_B}, {"text": " \n "}, {"text": MEMO_A}]
    r = client.post("/memos/batch", json={"memos": memos})
    assert r.status_code == 202
    job = client.get(f"/jobs/{r.get_json()['job_id']}").get_json()
    assert job["status"] == "done" and (job["done"], job["failed"]) == (3, 1), job
    assert job["items"] == ["indexed", "indexed", "failed", "indexed"]
    assert job["memo_ids"][0] == job["memo_ids"][3] and "text" in job["errors"][0]["error"]
    assert client.get(f"/memos/{job['memo_ids'][0]}").get_json()["tags"] == ["ports"]
    health = client.get("/health").get_json()
    assert health["memos"] == 2 and health["chunks"] == health["vectors"] > 0


def test_a_task_delivered_twice_stores_and_counts_once(queued_app):
    engine = queued_app.extensions["memo"]
    texts = [MEMO_A, MEMO_B, MEMO_C]
    job = engine.storage.leases.create("twice", [(t, {}) for t in texts], _hashed(texts))  # its tasks were lost
    task = engine.queue.celery.tasks[INGEST_TASK]
    payload = [[i, h] for i, h in enumerate(_hashed(texts))]
    assert task.apply(("twice", payload)).get() == 3
    counts = engine.health()
    assert task.apply(("twice", payload)).get() == 0, "a second delivery claims nothing"
    assert engine.health() == counts and counts["memos"] == 3
    job = engine.job("twice")
    assert job.status == "done" and job.done == 3 and len(set(job.memo_ids)) == 3
    # a task that carries another text's hash for an index claims nothing either
    engine.storage.leases.create("other", [(MEMO_A, {})], _hashed([MEMO_A]))
    assert task.apply(("other", [[0, _hashed([MEMO_B])[0]]])).get() == 0


def test_items_of_a_dead_owner_are_swept_and_stored_once(queued_app):
    engine = queued_app.extensions["memo"]
    leases = engine.storage.leases
    texts = [MEMO_A, MEMO_B]
    wanted = list(enumerate(_hashed(texts)))
    leases.create("orphan", [(t, {}) for t in texts], _hashed(texts))
    dead = leases.claim("orphan", wanted, "dead-worker", 0.5)  # claimed, then the worker was SIGKILLed
    assert [i.index for i in dead] == [0, 1] and engine.job("orphan").status == "running"
    live = _eager(queued_app, owner="live-worker")
    assert live.ingest("orphan", wanted) == 0, "a live lease is respected"
    assert leases.sweep(None, 5) == {}
    time.sleep(0.7)
    found = leases.sweep(None, 5)
    assert found == {"orphan": wanted}
    assert live.ingest("orphan", found["orphan"]) == 2
    job = engine.job("orphan")
    # the dead worker wakes up after all (a second later: updated_at has second resolution) and reports its
    # items: nothing changes, not even the job's updated_at
    time.sleep(1.05)
    leases.finish_items("orphan", [(0, "someone-else", None), (1, None, "late")])
    assert engine.job("orphan") == job and job.status == "done" and job.done == 2 and job.failed == 0
    assert engine.health()["memos"] == 2


def test_a_live_owner_keeps_its_items_by_renewing(queued_app):
    leases = queued_app.extensions["memo"].storage.leases
    leases.create("slow", [(MEMO_A, {})], _hashed([MEMO_A]))
    assert len(leases.claim("slow", [(0, _hashed([MEMO_A])[0])], "slow-worker", 0.5)) == 1
    for _ in range(3):
        time.sleep(0.3)
        assert leases.renew("slow-worker", 0.5) == 1
        assert leases.sweep(None, 5) == {}


def test_a_lost_message_is_sent_again_only_when_the_queue_is_empty(queued_app):
    leases = queued_app.extensions["memo"].storage.leases
    leases.create("lost", [(MEMO_C, {})], _hashed([MEMO_C]))
    assert leases.sweep(None, 5) == {}, "the broker may still hold its task"
    assert leases.sweep(3600, 5) == {}, "sent a moment ago"
    time.sleep(0.2)
    assert leases.sweep(0.1, 5) == {"lost": [(0, _hashed([MEMO_C])[0])]}
    assert leases.sweep(0.1, 5) == {}, "just sent again"


def test_an_item_that_stops_every_worker_fails_after_max_attempts(queued_app):
    engine = queued_app.extensions["memo"]
    leases = engine.storage.leases
    texts = [MEMO_A, MEMO_B]
    leases.create("poison", [(t, {}) for t in texts], _hashed(texts))
    poison = [(0, _hashed(texts)[0])]
    for attempt in range(2):
        assert len(leases.claim("poison", poison, f"worker-{attempt}", 0.1)) == 1
        time.sleep(0.2)
        found = leases.sweep(None, 2)
    assert found == {} and engine.job("poison").items == ("failed", "queued")
    assert "gave up after 2 attempts" in engine.job("poison").errors[0]["error"]
    assert _eager(queued_app).ingest("poison", [(1, _hashed(texts)[1])]) == 1
    assert engine.job("poison").status == "done"


def test_a_failing_task_releases_its_items_for_the_sweeper(queued_app, monkeypatch):
    engine = queued_app.extensions["memo"]
    leases = engine.storage.leases
    leases.create("broken", [(MEMO_A, {})], _hashed([MEMO_A]))
    monkeypatch.setattr(engine.prep, "embed", lambda drafts, **_: (_ for _ in ()).throw(RuntimeError("embedder down")))
    with pytest.raises(RuntimeError):
        engine.queue.celery.tasks[INGEST_TASK].apply(("broken", [[0, _hashed([MEMO_A])[0]]])).get()
    monkeypatch.undo()
    time.sleep(0.2)
    assert leases.sweep(0.1, 5) == {"broken": [(0, _hashed([MEMO_A])[0])]}, "released, not held until expiry"
    # a task that fails every time is not sent again forever either
    monkeypatch.setattr(engine.prep, "embed", lambda drafts, **_: (_ for _ in ()).throw(RuntimeError("embedder down")))
    with pytest.raises(RuntimeError):
        engine.queue.celery.tasks[INGEST_TASK].apply(("broken", [[0, _hashed([MEMO_A])[0]]])).get()
    assert leases.sweep(0.1, 2) == {} and engine.job("broken").status == "done"
    assert "gave up after 2 attempts" in engine.job("broken").errors[0]["error"]


def test_briefs_go_to_the_briefs_task_keyed_by_content_hash(config, database_url):
    app = create_app({**config, "DATABASE_URL": database_url, "BROKER_URL": BROKER, "LLM": "fake",
                      "LLM_WAIT_S": 1})
    try:
        engine = app.extensions["memo"]
        assert engine.worker is None, "no brief thread in the serving process when a broker is set"
        context = _eager(app)
        client = app.test_client()
        memo = client.post("/memos", json={"text": SEED_LIKE}).get_json()  # its brief task ran eagerly
        assert client.get(f"/memos/{memo['id']}").get_json()["brief_status"] == "ready"
        calls = len(engine.writer.generator.prompts)
        assert context.brief(memo["id"], engine.get(memo["id"]).content_hash) == "ready"
        assert context.brief(memo["id"], "0" * 64) == "gone", "a task for an older text does nothing"
        assert len(engine.writer.generator.prompts) == calls, "a cached brief is not written again"
        engine.queue.briefs = False  # this memo's task is not sent: its brief stays pending
        third = engine.intake.ingest("A third memo about the port of Tartus and its new piers in 2019.")[0]
        method = engine.briefs.method("abstractive")
        with engine.storage.briefs.writing(third.content_hash, method) as mine:  # another worker is writing it
            assert mine
            assert context.brief(third.id, third.content_hash) == "busy"
            assert engine.brief_status(third) == "pending"
        assert context.brief(third.id, third.content_hash) == "written", "the lock went with its holder"
        assert engine.brief_status(third) == "ready"
    finally:
        app.extensions["memo"].close()


def test_the_embedded_backend_ignores_the_broker_and_runs_jobs_in_process(config):
    app = create_app({**config, "BROKER_URL": BROKER})
    try:
        engine = app.extensions["memo"]
        assert engine.queue is None
        job = engine.submit_batch([(MEMO_A, {})])
        deadline = time.monotonic() + 30
        while engine.job(job.id).status != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        app.extensions["memo"].close()


@pytest.mark.parametrize("env, message", [({}, "MEMO_BROKER_URL"), ({"MEMO_BROKER_URL": BROKER}, "MEMO_DATABASE_URL")])
def test_memo_worker_refuses_without_a_broker_or_a_shared_database(env, message, monkeypatch):
    for key in ("MEMO_BROKER_URL", "MEMO_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    result = CliRunner().invoke(main, ["worker"], env=env)
    assert result.exit_code == 1 and message in result.output
    result = CliRunner().invoke(main, ["worker", "--queues", "ingest,emails"],
                                env={"MEMO_BROKER_URL": BROKER, "MEMO_DATABASE_URL": "postgresql:///x"})
    assert result.exit_code == 1 and "emails" in result.output


def test_a_batch_is_accepted_while_the_broker_is_down_and_swept_later(config, database_url):
    import socket

    with socket.socket() as s:  # a port nothing listens on: the broker is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app({**config, "DATABASE_URL": database_url, "BROKER_URL": f"redis://127.0.0.1:{port}/0"})
    try:
        engine = app.extensions["memo"]
        started = time.monotonic()
        r = app.test_client().post("/memos/batch", json={"memos": [{"text": MEMO_A}, {"text": MEMO_B}]})
        assert r.status_code == 202 and time.monotonic() - started < 10
        job_id = r.get_json()["job_id"]
        assert engine.job(job_id).status == "queued", "kept in the database"
        assert not engine.queue.idle("ingest"), "a broker that cannot be asked is not taken for empty"
        time.sleep(0.1)
        assert engine.storage.leases.sweep(0.05, 5) == {job_id: list(enumerate(_hashed([MEMO_A, MEMO_B])))}
    finally:
        app.extensions["memo"].close()
