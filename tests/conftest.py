"""Fixtures: every test gets its own data dir; fakes and a shared real model go through the registry."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from models import register_embedder
from service import create_app
from tests.fakes import HashEmbedder, OtherHashEmbedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_MEMO = sorted(SEEDS.glob("*.txt"))[0]

register_embedder("fake", HashEmbedder)
register_embedder("fake-2", OtherHashEmbedder)


@functools.lru_cache(maxsize=1)
def _shared_minilm():
    from models.embedder import load_minilm

    return load_minilm()


# The real model, loaded once per test session and shared by every test that asks for it.
register_embedder("minilm-shared", _shared_minilm)


@pytest.fixture
def config(tmp_path):
    return {"DATA_DIR": str(tmp_path / "data"), "SEEDS_DIR": None, "EMBEDDER": "fake", "TESTING": True}


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
    """The app on the real embedder with the seed memo ingested."""
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "SEEDS_DIR": str(SEEDS), "EMBEDDER": "minilm-shared"})
    yield app
    app.extensions["memo"].close()


@pytest.fixture
def seed_text() -> str:
    return SEED_MEMO.read_text(encoding="utf-8")
