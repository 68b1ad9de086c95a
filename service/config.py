"""Configuration defaults. Layers: these, then ``MEMO_*`` environment variables, then test overrides."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from service.schemas import ERROR_SCHEMA

REPO_SEEDS = Path(__file__).resolve().parent.parent / "seeds"

DEFAULTS: dict[str, object] = {
    # where the SQLite store and the FAISS index live
    "DATA_DIR": "data",
    # memos ingested on the first start of an empty store (None: no seeding)
    "SEEDS_DIR": str(REPO_SEEDS),
    "EMBEDDER": "minilm",
    # candidate phrases for short answers: "spacy" (parser + NER) or "none" (whole sentences)
    "PHRASES": "spacy",
    # named-entity model registry name ("none" switches entity extraction off)
    "ENTITIES": "spacy",
    "LLM": "none",
    "CHUNK_TOKENS": 128,
    "CHUNK_OVERLAP": 1,
    "MAX_MEMO_CHARS": 2_000_000,
    # Flask: request bodies above this get 413
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
    "ABSTAIN_BELOW": 0.48,
    # APIFlask: OpenAPI and the docs page, served offline
    "VALIDATION_ERROR_SCHEMA": ERROR_SCHEMA,
    "HTTP_ERROR_SCHEMA": ERROR_SCHEMA,
    "SWAGGER_UI_CSS": "/docs/assets/swagger-ui.css",
    "SWAGGER_UI_BUNDLE_JS": "/docs/assets/swagger-ui-bundle.js",
    "SWAGGER_UI_STANDALONE_PRESET_JS": "/docs/assets/swagger-ui-standalone-preset.js",
    "DOCS_FAVICON": "/docs/assets/favicon-32x32.png",
}


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The three layers as one mapping (the app factory and the CLI read the same settings)."""
    from flask import Config

    config = Config(os.getcwd())
    config.from_mapping(DEFAULTS)
    config.from_prefixed_env("MEMO")
    if overrides:
        config.from_mapping(overrides)
    return dict(config)
