"""The PostgreSQL backend end to end: the engine on the seed memo, two API "replicas" over one database,
racing writers, schema migration by several starters, and the refusal of a server without pgvector."""
from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from service import create_app
from service.storage.base import VectorSpace
from service.errors import DatabaseSetupError
from service.storage.postgres.schema import migrate, migrations
from tests.conftest import SEED_MEMO, SEEDS
from tests.test_engine import MEMO_A, MEMO_B

QUESTION = "Which Russian military sites in Syria are mentioned?"


def _app(config, **overrides):
    return create_app({**config, **overrides})


def test_engine_over_postgres_answers_the_seed_question_as_embedded_does(config, database_url, tmp_path):
    answers = []
    for overrides in ({"DATA_DIR": str(tmp_path / "embedded")}, {"DATABASE_URL": database_url}):
        app = _app(config, SEEDS_DIR=str(SEEDS), **overrides)
        engine = app.extensions["memo"]
        try:
            assert engine.health()["memos"] == 1 and engine.health()["chunks"] == engine.health()["vectors"] > 0
            result, memos = engine.ask(QUESTION)
            memo = engine.storage.memos.get(result.citations[0].memo_id)
            assert memo.source == SEED_MEMO.name
            for c in result.citations:
                assert engine.storage.memos.text(c.memo_id)[c.start : c.end] == c.quote
            answers.append((result.answer, result.abstained, [(c.start, c.end) for c in result.citations]))
        finally:
            engine.close()
    assert answers[0] == answers[1]


@pytest.fixture
def replicas(config, database_url):
    """Two apps (two replicas) over one database, each with its own data dir (which neither uses)."""
    apps = [_app(config, DATA_DIR=f"{config['DATA_DIR']}-{i}", DATABASE_URL=database_url) for i in range(2)]
    yield [a.test_client() for a in apps]
    for a in apps:
        a.extensions["memo"].close()


def test_a_memo_posted_to_one_replica_is_found_by_the_other(replicas):
    one, two = replicas
    posted = one.post("/memos", json={"text": MEMO_A})
    assert posted.status_code == 201
    memo_id = posted.get_json()["id"]
    two.post("/memos", json={"text": MEMO_B})
    body = two.post("/ask", json={"question": "What did engineers add to the harbour of Tartus?"}).get_json()
    assert not body["abstained"] and body["citations"][0]["memo_id"] == memo_id
    assert two.get(f"/memos/{memo_id}").get_json()["text"] == one.get(f"/memos/{memo_id}").get_json()["text"]
    health = two.get("/health").get_json()
    assert health["backend"] == "postgres" and health["memos"] == 2 and health["status"] == "ok"
    assert one.delete(f"/memos/{memo_id}").status_code == 200
    for _ in range(3):
        body = two.post("/ask", json={"question": "What did engineers add to the harbour of Tartus?"}).get_json()
        assert memo_id not in {c["memo_id"] for c in body["citations"]}
        assert two.get(f"/memos/{memo_id}").status_code == 404


def test_the_same_text_posted_to_both_replicas_at_once_is_one_memo(replicas):
    barrier = threading.Barrier(2)
    for attempt in range(3):

        def post_text(client, tail=f" Attempt {attempt}."):
            barrier.wait()  # both requests leave together
            return client.post("/memos", json={"text": MEMO_A + tail})

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(post_text, replicas))
        assert sorted(r.status_code for r in results) == [200, 201]
        assert len({r.get_json()["id"] for r in results}) == 1
    assert replicas[0].get("/health").get_json()["memos"] == 3


def test_seeding_is_idempotent_across_replicas(config, database_url):
    apps = [_app(config, DATA_DIR=f"{config['DATA_DIR']}-{i}", DATABASE_URL=database_url, SEEDS_DIR=str(SEEDS))
            for i in range(2)]
    try:
        assert [a.extensions["memo"].health()["memos"] for a in apps] == [1, 1]
    finally:
        for a in apps:
            a.extensions["memo"].close()


def test_schema_is_applied_once_when_several_processes_start_together(database_url):
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: migrate(database_url, 64), range(4)))
    latest = migrations()[-1][0]
    assert versions == [latest] * 4
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [
            (v,) for v, _ in migrations()]


def test_another_dimension_is_refused(database_url):
    migrate(database_url, 64)
    with pytest.raises(DatabaseSetupError, match="vector\\(64\\)"):
        migrate(database_url, 384)


def test_a_newer_schema_is_refused(database_url):
    migrate(database_url, 64)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version(version) VALUES (999)")
    with pytest.raises(DatabaseSetupError, match="version 999"):
        migrate(database_url, 64)


@pytest.fixture
def plain_postgres():
    """A database on a server without pgvector (the machine's PostgreSQL 15, or MEMO_TEST_PLAIN_DATABASE_URL)."""
    url = os.environ.get("MEMO_TEST_PLAIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL without pgvector at {url}: {exc}")
    with admin:
        if admin.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            pytest.skip(f"{url} has pgvector")
        name = f"memo_plain_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_server_without_pgvector_is_refused_at_start_with_a_clear_error(config, plain_postgres):
    with pytest.raises(DatabaseSetupError, match=r"pgvector >= 0\.8"):
        _app(config, DATABASE_URL=plain_postgres)


def test_open_storage_picks_the_backend_by_url(database_url, tmp_path):
    from service.storage import open_storage

    storage = open_storage({"DATABASE_URL": database_url}, VectorSpace("m", 8))
    try:
        assert storage.backend == "postgres" and storage.counts() == {"memos": 0, "chunks": 0, "sentences": 0,
                                                                       "vectors": 0}
    finally:
        storage.close()
    with pytest.raises(ValueError, match="no storage backend for 'mysql'"):
        open_storage({"DATABASE_URL": "mysql://x/y"}, VectorSpace("m", 8))


def test_racing_adds_of_one_text_store_one_memo(config, database_url):
    """Storage level, no HTTP in between: eight writers add the same prepared memo under eight ids at once."""
    app = _app(config, DATABASE_URL=database_url)
    engine = app.extensions["memo"]
    try:
        for round_ in range(3):
            prepared = engine.prep.prepare(f"{MEMO_A} Round {round_}.")
            barrier = threading.Barrier(8)

            def add(i):
                barrier.wait()
                return engine.storage.memos.add(f"r{round_}-{i}", prepared)

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(add, range(8)))
            assert sum(created for _, created in results) == 1
            assert len({memo.id for memo, _ in results}) == 1
        counts = engine.storage.counts()
        assert counts["memos"] == 3 and counts["chunks"] == counts["vectors"]
        total, _ = engine.storage.chunks.frequencies([])
        assert total == counts["chunks"]  # the BM25 totals counted each memo once
    finally:
        engine.close()


def test_a_narrow_filter_still_gets_k_hits_from_the_hnsw_index(database_url):
    """With the planner forced onto the HNSW index (the default ef_search), a filter that admits 1% of the chunks
    still returns k hits (iterative scans), and the best of them is the exact nearest admitted chunk."""
    import numpy as np

    from service.storage.postgres import PostgresSettings, PostgresStorage
    from service.types import Chunk, MemoDraft, MemoFilter, PreparedMemo

    dim, memos, per_memo = 16, 200, 10
    rng = np.random.default_rng(7)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # a sort costs "infinity": only the HNSW index can give the order (left alone, the planner rightly
        # takes the exact path for a filter this narrow)
        conn.execute(f'ALTER DATABASE "{urlsplit(database_url).path.strip("/")}" SET enable_sort = off')
    storage = PostgresStorage(PostgresSettings(database_url), VectorSpace("random", dim))
    try:
        vectors = rng.normal(size=(memos, per_memo, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
        for m in range(memos):
            text = " ".join(f"word{m}x{i}." for i in range(per_memo))
            spans = [(text.index(f"word{m}x{i}."), text.index(f"word{m}x{i}.") + len(f"word{m}x{i}."))
                     for i in range(per_memo)]
            draft = MemoDraft(text, f"memo {m}", f"hash{m}", 0, tuple(spans), tags=("rare",) if m < 2 else ())
            storage.memos.add(f"m{m:03d}", PreparedMemo(draft, spans, vectors[m], [Chunk(s, e, i, i) for i, (s, e)
                                                        in enumerate(spans)], vectors[m]))
        with storage.db.read() as conn:
            conn.execute("ANALYZE")
        query = rng.normal(size=dim).astype(np.float32)
        query /= np.linalg.norm(query)
        with storage.db.read() as conn:
            plan = "\n".join(r[0] for r in conn.execute(
                "EXPLAIN SELECT c.id FROM chunks c JOIN memos m ON m.id = c.memo_id WHERE EXISTS (SELECT 1 FROM "
                "memo_tags t WHERE t.memo_id = m.id AND t.tag = ANY(%s)) ORDER BY c.embedding <#> %s LIMIT 10",
                (["rare"], query)))
        assert "chunks_embedding" in plan, plan
        hits = storage.chunks.dense(query, 10, MemoFilter(tags=("rare",)))
        admitted = vectors[:2].reshape(-1, dim)
        assert len(hits) == 10
        assert {storage.chunks.refs([i])[i].memo_id for i, _ in hits} <= {"m000", "m001"}
        assert np.isclose(hits[0][1], float((admitted @ query).max()), atol=1e-5)
    finally:
        storage.close()


def test_an_unreachable_database_fails_the_start_with_a_clear_error(config, tmp_path):
    with pytest.raises(DatabaseSetupError, match="cannot reach the database"):
        _app(config, DATABASE_URL=f"postgresql://postgres:@/postgres?host={tmp_path}/nowhere")
