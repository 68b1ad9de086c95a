"""Batch ingest through jobs (POST /memos/batch, GET /jobs/{id}) on the in-process runner: every memo ends
indexed or failed, an acknowledged job survives a restart, nothing is stored twice."""
from __future__ import annotations

import time

from service import create_app
from tests.test_api import error_of
from tests.test_engine import MEMO_A, MEMO_B, MEMO_C


def _wait(client, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").get_json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_a_batch_is_accepted_then_every_memo_indexed_or_failed(client):
    memos = [{"text": MEMO_A, "tags": ["ports"]}, {"text": MEMO_B, "date": "2024-03-01"}, {"text": " \n "},
             {"text": MEMO_A}]
    r = client.post("/memos/batch", json={"memos": memos})
    assert r.status_code == 202 and r.get_json()["total"] == 4
    job = _wait(client, r.get_json()["job_id"])
    assert job["status"] == "done" and (job["done"], job["failed"]) == (3, 1), job
    assert job["items"] == ["indexed", "indexed", "failed", "indexed"]
    assert job["errors"][0]["index"] == 2 and "text" in job["errors"][0]["error"]
    first, second, missing, again = job["memo_ids"]
    assert missing is None and again == first, "the same text twice is one memo"
    assert client.get(f"/memos/{first}").get_json()["tags"] == ["ports"]
    assert client.get(f"/memos/{second}").get_json()["date"] == "2024-03-01"
    health = client.get("/health").get_json()
    assert health["memos"] == 2 and health["chunks"] == health["vectors"]


def test_batches_are_bounded_and_checked_like_single_memos(make_client):
    client = make_client(BATCH_MAX_MEMOS=2)
    r = client.post("/memos/batch", json={"memos": [{"text": MEMO_A}, {"text": MEMO_B}, {"text": MEMO_C}]})
    assert r.status_code == 422 and "memos" in str(error_of(r)["detail"])
    for body in ({"memos": []}, {"memos": [{"title": "no text"}]}, {"memos": [{"text": MEMO_A, "colour": "red"}]},
                 {}):
        assert client.post("/memos/batch", json=body).status_code == 422, body
    assert client.get("/health").get_json()["memos"] == 0
    assert error_of(client.get("/jobs/nope"))["error"] == "Not found"


def test_an_acknowledged_job_left_unfinished_resumes_at_the_next_start(config):
    app = create_app(config)
    engine = app.extensions["memo"]
    engine.jobs.stop()  # as if the process died right after the 202: the job is stored, nothing ran
    job = engine.storage.jobs.create("left-over", [(MEMO_A, {}), (MEMO_B, {"tags": ["rates"]})])
    assert job.status == "queued" and job.items == ("queued", "queued")
    engine.close()

    app = create_app(config)
    try:
        job = _wait(app.test_client(), "left-over")
        assert job["status"] == "done" and job["done"] == 2 and None not in job["memo_ids"]
        assert app.extensions["memo"].storage.jobs.pending("left-over", 10) == []
    finally:
        app.extensions["memo"].close()


def test_finished_items_keep_no_text(engine):
    job = engine.submit_batch([(MEMO_A, {}), (MEMO_C, {})])
    deadline = time.monotonic() + 30
    while engine.job(job.id).status != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = engine.storage.db.connection().execute("SELECT text FROM job_items WHERE job_id = ?", (job.id,)).fetchall()
    assert rows == [(None,), (None,)]
