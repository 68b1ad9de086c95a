"""Entities after the acknowledgement (service.ingest.entities.EntityReader): a new memo is stored and
acknowledged before its entities are read; every read that needs them (a memo's page, entity filters on
lists, /ask and /summarise, facets) reads the pending ones first, the filler reads them once ingest is quiet,
and a memo acknowledged just before a crash gets them at the next start. On both storage backends."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from service import create_app
from service.types import MemoFilter
from tests.conftest import ROOT
from tests.test_entities import ASSAD, PUTIN
from tests.test_engine import MEMO_A, MEMO_C


@pytest.fixture(params=["embedded", "postgres"])
def backend(request, config):
    """Config overrides for the backend under test (the filler off: these tests read on the spot)."""
    extra = {"SENTENCE_FILLER": False}
    if request.param == "postgres":
        extra["DATABASE_URL"] = request.getfixturevalue("database_url")
    return {**config, **extra}


@pytest.fixture
def client(backend):
    app = create_app(backend)
    yield app.test_client()
    app.extensions["memo"].close()


def _engine(client):
    return client.application.extensions["memo"]


def _post(client, text, **fields):
    r = client.post("/memos", json={"text": text, **fields})
    assert r.status_code == 201
    body = r.get_json()
    assert body["entities"] is None and body["entities_status"] == "pending"
    return body["id"]


def test_acknowledged_before_entities_then_read_for_the_memo_page(client):
    memo_id = _post(client, PUTIN)
    assert client.get("/health").get_json()["entities_pending"] == 1
    got = client.get(f"/memos/{memo_id}").get_json()
    assert got["entities_status"] == "ready"
    assert [(e["text"], e["label"]) for e in got["entities"]] == [
        ("Vladimir Putin", "PERSON"), ("Assad", "PERSON"), ("Moscow", "GPE"), ("Kremlin", "ORG"), ("Syria", "GPE"),
    ]
    assert all(PUTIN[e["start"] : e["end"]] == e["text"] for e in got["entities"])
    assert client.get("/health").get_json()["entities_pending"] == 0


def test_entity_filters_and_facets_never_miss_a_just_acknowledged_memo(client):
    putin = _post(client, PUTIN, tags=["russia"])
    a = _post(client, MEMO_A)
    pending = lambda: client.get("/health").get_json()["entities_pending"]  # noqa: E731
    assert pending() == 2
    listed = client.get("/memos?entity=putin").get_json()
    assert [m["id"] for m in listed["items"]] == [putin]
    assad = _post(client, ASSAD)
    asked = client.post("/ask", json={"question": "What happened in Tartus?", "entities": ["Bashar Al-Assad"]})
    assert {c["memo_id"] for c in asked.get_json()["citations"]} == {assad}
    _post(client, MEMO_C)
    topic = client.post("/summarise", json={"query": "harbour of Tartus", "entities": ["tartus"]}).get_json()
    assert a in {t["memo_id"] for t in topic["timeline"]} <= {a, assad}
    _post(client, "3 Apr 2024; NOTE: The ministry met the Kremlin again.")
    facets = client.get("/memos/facets").get_json()
    assert {e["text"]: e["memos"] for e in facets["entities"]}["Kremlin"] == 2
    assert pending() == 0
    # search with an entity filter (the engine seam the CLI's topic and list use too)
    _post(client, "Vladimir Putin flew to Tartus on Monday.")
    hits = _engine(client).search("Putin Tartus", 5, MemoFilter(entities=("putin",)))
    assert len({h.memo_id for h in hits}) == 2


def test_deferred_entities_are_those_an_eager_ingest_stores(backend):
    deferred = create_app(backend).extensions["memo"]
    eager = create_app({**backend, "DATA_DIR": backend["DATA_DIR"] + "-eager", "DATABASE_URL": None,
                        "DEFER_ENTITIES": False}).extensions["memo"]
    try:
        texts = [PUTIN, ASSAD, MEMO_A, MEMO_C]
        deferred.intake.ingest_many([(t, {}) for t in texts])
        eager.intake.ingest_many([(t, {}) for t in texts])
        assert deferred.entities_pending() == 4 and eager.entities_pending() == 0
        assert deferred.fill_entities() == 4 and deferred.fill_entities() == 0
        by_hash = {m.content_hash: m.id for m in eager.list(MemoFilter(), 10, 0)[0]}
        for memo in deferred.list(MemoFilter(), 10, 0)[0]:
            assert deferred.entities(memo.id) == eager.entities(by_hash[memo.content_hash])
    finally:
        deferred.close()
        eager.close()


def test_an_update_reads_entities_before_it_answers(client):
    memo_id = _post(client, PUTIN)
    updated = client.put(f"/memos/{memo_id}", json={"text": ASSAD}).get_json()
    assert updated["entities_status"] == "ready" and {e["text"] for e in updated["entities"]} == {
        "Bashar Al-Assad", "Tartus", "Assad"}
    assert client.get("/health").get_json()["entities_pending"] == 0


def test_the_filler_reads_entities_once_ingest_is_quiet(backend):
    app = create_app({**backend, "SENTENCE_FILLER": True})
    engine = app.extensions["memo"]
    try:
        with engine.activity.running():
            engine.ingest(PUTIN)
            time.sleep(1.5)  # longer than the filler's quiet period: it must still wait for ingest to end
            assert engine.entities_pending() == 1
        deadline = time.monotonic() + 10
        while (engine.entities_pending() or engine.sentences_pending()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert engine.entities_pending() == 0 and engine.sentences_pending() == 0
    finally:
        engine.close()


CRASH = """
import json, os, sys
import tests.conftest  # the fake models' registrations
from service import create_app
config = json.loads(sys.argv[1])
engine = create_app(config).extensions["memo"]
memo, created = engine.ingest(sys.argv[2])
assert created and engine.entities_pending() == 1
print(memo.id, flush=True)
os._exit(9)  # no close, no filler: the process dies right after the acknowledgement
"""


def test_a_memo_acknowledged_before_a_crash_gets_its_entities_at_the_next_start(backend):
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CRASH, json.dumps(backend), PUTIN], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr[-2000:]
    memo_id = done.stdout.split()[-1]
    engine = create_app(backend).extensions["memo"]  # the start-up backfill reads what the crash left unread
    try:
        assert engine.entities_pending() == 0
        assert [e.text for e in engine.storage.entities.of_memo(memo_id)][:2] == ["Vladimir Putin", "Assad"]
        assert [m.id for m in engine.storage.memos.page(MemoFilter(entities=("putin",)), 10, 0)[0]] == [memo_id]
    finally:
        engine.close()


def test_memo_ingest_reads_every_deferred_entity_before_it_exits(tmp_path, backend):
    from click.testing import CliRunner

    from service.cli import main as cli

    folder = tmp_path / "in"
    folder.mkdir()
    for i, text in enumerate([PUTIN, ASSAD, MEMO_A]):
        (folder / f"m{i}.txt").write_text(text)
    env = {"MEMO_DATA_DIR": backend["DATA_DIR"], "MEMO_EMBEDDER": "fake", "MEMO_ENTITIES": "fake",
           "MEMO_PHRASES": "fake", "MEMO_LLM": "none", "MEMO_SEEDS_DIR": ""}
    if backend.get("DATABASE_URL"):
        env["MEMO_DATABASE_URL"] = backend["DATABASE_URL"]
    result = CliRunner().invoke(cli, ["ingest", str(folder)], env=env)
    assert result.exit_code == 0, result.output
    assert "entities of 3 memos" in result.output
    engine = create_app(backend).extensions["memo"]
    try:
        assert engine.entities_pending() == 0 and engine.sentences_pending() == 0
    finally:
        engine.close()


def test_another_process_over_postgres_reads_what_one_acknowledged(config, request):
    """Two engines over one database (two replicas): a filter on one finds the memo the other just acknowledged."""
    url = request.getfixturevalue("database_url")
    one = create_app({**config, "DATABASE_URL": url, "SENTENCE_FILLER": False}).extensions["memo"]
    other = create_app({**config, "DATA_DIR": config["DATA_DIR"] + "-2", "DATABASE_URL": url,
                        "SENTENCE_FILLER": False}).extensions["memo"]
    try:
        memo, _ = one.ingest(PUTIN)
        assert other.entities_pending() == 1
        assert [m.id for m in other.list(MemoFilter(entities=("kremlin",)), 10, 0)[0]] == [memo.id]
        assert one.entities_pending() == 0
    finally:
        one.close()
        other.close()


def test_settling_skips_its_scan_while_no_memo_came_since_on_the_embedded_backend(make_client, monkeypatch):
    """One process writes the embedded store: once a settle found nothing pending, the next ones skip the scan
    of every memo until a memo is written again (on PostgreSQL other replicas write too: always scanned)."""
    engine = _engine(make_client(SENTENCE_FILLER=False))
    reader = engine.entity_reader
    scans = []
    real = reader.pending
    monkeypatch.setattr(reader, "pending", lambda memo_ids=None: scans.append(memo_ids) or real(memo_ids))
    engine.ingest(PUTIN)
    assert engine.list(MemoFilter(entities=("putin",)), 10, 0)[1] == 1 and len(scans) == 2  # found, re-read
    engine.facets(MemoFilter())
    engine.list(MemoFilter(entities=("assad",)), 10, 0)
    assert len(scans) == 2  # everything written so far was read by the first: no scan
    engine.ingest(ASSAD)
    assert engine.list(MemoFilter(entities=("tartus",)), 10, 0)[1] == 1 and len(scans) == 4
