"""The worker tier end to end: real `memo worker` processes (fake models, tests/fake_memo.py) on a real Redis
broker over a real PostgreSQL, fed by an app in this process. Bulk ingest through two workers; a worker
SIGKILLed mid-task, then a new one; the broker killed and restarted empty. Every time: every memo indexed once
(memos == batch, chunks == vectors), the job done with every item counted once."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

from service import create_app

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
TEST_DB = 14  # the Redis database these tests use on a shared server: flushed before and after


def memo_texts(n: int, tag: str) -> list[str]:
    return [f"{1 + i % 28} March 2024; MEMO: Port report {tag} number {i}. The harbour of Tartus handled "
            f"{i * 7 + 3} ships in week {i}. Engineers from Moscow inspected pier {i % 9} and crane {i * 13 % 101}."
            for i in range(n)]


@pytest.fixture
def broker_url(redis_url):
    parts = urlsplit(redis_url)
    url = urlunsplit(parts._replace(path=f"/{TEST_DB}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


class WorkerProcess:
    """``memo worker`` in its own process group (a SIGKILL takes all of it), its output in a file."""

    def __init__(self, env: dict, log: Path, queues: str) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.fake_memo", "worker", "--queues", queues],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def tier(config, database_url, broker_url, tmp_path):
    """``tier(broker=None)``: the env of a worker and an app (the API) on the test database and a broker."""
    made: list = []

    def make(broker: str = broker_url, delay_s: float = 0.05, **more):
        settings = {**more, "DATABASE_URL": database_url, "BROKER_URL": broker, "INGEST_BATCH": 8, "WORKER_LEASE_S": 2,
                    "WORKER_SWEEP_S": 0.5, "WORKER_REQUEUE_S": 2, "RATELIMIT": "off"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMO_")}
        env.update({f"MEMO_{k}": str(v) for k, v in {**config, **settings}.items()
                    if k != "TESTING" and v is not None})
        env.update({"MEMO_SEEDS_DIR": "", "MEMO_DATA_DIR": str(tmp_path / "worker-data"),
                    "MEMO_TEST_EMBED_DELAY_S": str(delay_s), "PYTHONPATH": str(ROOT)})
        app = create_app({**config, **settings})
        made.append(app)
        return env, app

    yield make
    for app in made:
        app.extensions["memo"].close()


def start_workers(env: dict, tmp_path: Path, n: int, made: list, queues: str) -> list[WorkerProcess]:
    workers = [WorkerProcess(env, tmp_path / f"worker-{len(made) + i}.log", queues) for i in range(n)]
    made.extend(workers)
    return workers


@pytest.fixture
def workers(tmp_path):
    made: list[WorkerProcess] = []
    yield lambda env, n=1, queues="ingest": start_workers(env, tmp_path, n, made, queues)
    for w in made:
        w.kill()


def wait_for(check, timeout: float, what: str, logs: list[WorkerProcess] = ()):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            tails = "\n".join(w.log.read_text(errors="replace")[-3000:] for w in logs)
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.05)
    return result


def submit(app, texts: list[str]) -> str:
    r = app.test_client().post("/memos/batch", json={"memos": [{"text": t} for t in texts]})
    assert r.status_code == 202, r.get_json()
    return r.get_json()["job_id"]


def job_of(app, job_id: str) -> dict:
    return app.test_client().get(f"/jobs/{job_id}").get_json()


def leased(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM job_items WHERE status = 'queued' AND lease_owner IS NOT NULL "
                            "AND lease_until > now()").fetchone()[0]


def check_indexed_once(app, job_id: str, texts: list[str]) -> None:
    job = job_of(app, job_id)
    assert job["status"] == "done" and job["done"] == len(texts) and job["failed"] == 0, job
    assert len(set(job["memo_ids"])) == len(texts) and None not in job["memo_ids"]
    client = app.test_client()
    for memo_id, text in zip(job["memo_ids"][:: max(1, len(texts) // 10)], texts[:: max(1, len(texts) // 10)]):
        assert client.get(f"/memos/{memo_id}").get_json()["text"] == text
    health = client.get("/health").get_json()
    assert health["memos"] == len(texts) and health["chunks"] == health["vectors"] > 0, health


def test_bulk_ingest_through_two_workers(tier, workers):
    env, app = tier()
    running = workers(env, 2)
    texts = memo_texts(120, "bulk")
    job_id = submit(app, texts)
    wait_for(lambda: job_of(app, job_id)["status"] == "done", 120, "the job", running)
    check_indexed_once(app, job_id, texts)
    question = "How many ships did the harbour of Tartus handle in week 7?"
    answer = app.test_client().post("/ask", json={"question": question})
    assert "52" in str(answer.get_json()["citations"])


def test_a_worker_killed_mid_task_leaves_nothing_lost_or_doubled(tier, workers, database_url):
    env, app = tier(delay_s=0.3)
    first = workers(env)[0]
    texts = memo_texts(160, "kill")
    job_id = submit(app, texts)
    # SIGKILL while the worker holds a lease (inside a task), after it finished a few
    wait_for(lambda: job_of(app, job_id)["done"] >= 16 and leased(database_url) > 0, 120, "progress", [first])
    first.kill()
    job = job_of(app, job_id)
    assert job["status"] == "running" and job["done"] < len(texts)
    assert leased(database_url) > 0, "the killed worker held items"
    second = workers(env)[0]
    wait_for(lambda: job_of(app, job_id)["status"] == "done", 180, "the job after the kill", [first, second])
    check_indexed_once(app, job_id, texts)
    assert "sent again" in second.log.read_text(), "the new worker's sweeper sent the dead worker's items"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    wait_for(lambda: _pings(port), 10, "redis-server")
    return proc


def _pings(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


def test_a_broker_restarted_empty_loses_no_memo(tier, workers, tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing (make redis)")
        pytest.skip("redis-server is missing (make redis)")
    port = free_port()
    server = start_redis(port, tmp_path)
    try:
        env, app = tier(broker=f"redis://127.0.0.1:{port}/0", delay_s=0.3)
        running = workers(env)
        texts = memo_texts(160, "restart")
        job_id = submit(app, texts)
        wait_for(lambda: job_of(app, job_id)["done"] >= 16, 120, "progress", running)
        server.kill()  # SIGKILL, no save: every queued message is gone
        server.wait(10)
        assert job_of(app, job_id)["status"] == "running"
        server = start_redis(port, tmp_path)
        wait_for(lambda: job_of(app, job_id)["status"] == "done", 180, "the job after the restart", running)
        check_indexed_once(app, job_id, texts)
        # the broker answers again: a new batch goes through it as usual
        more = memo_texts(20, "after")
        job_id = submit(app, more)
        wait_for(lambda: job_of(app, job_id)["status"] == "done", 60, "a batch after the restart", running)
    finally:
        server.kill()
        server.wait(10)


def test_briefs_are_written_by_a_worker_on_the_briefs_queue(tier, workers):
    """The API (no brief thread) sends a brief task per memo stored; a worker with the LLM (the scripted fake)
    on the briefs queue writes it; a worker on ingest alone sends the briefs of the memos it stores."""
    env, app = tier(LLM="fake")
    assert app.extensions["memo"].worker is None
    running = workers(env, 1, "briefs") + workers(env, 1, "ingest")
    client = app.test_client()
    memo = client.post("/memos", json={"text": memo_texts(1, "brief")[0]}).get_json()
    texts = memo_texts(12, "batch-brief")
    job_id = submit(app, texts)
    wait_for(lambda: job_of(app, job_id)["status"] == "done", 60, "the job", running)
    for memo_id in [memo["id"], *job_of(app, job_id)["memo_ids"]]:
        wait_for(lambda: client.get(f"/memos/{memo_id}").get_json()["brief_status"] == "ready", 60,
                 f"the brief of {memo_id}", running)
    brief = client.get(f"/memos/{memo['id']}/brief?mode=abstractive").get_json()
    assert brief["method"].startswith("abstractive") and "In short" in brief["brief"], brief
    assert app.extensions["memo"].writer.generator.prompts == [], "the API process wrote no brief itself"
    assert "'written'" in running[0].log.read_text(), "the briefs worker wrote them"
