"""Memo brief & ask: a Flask service that stores memos, briefs them and answers questions with citations."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from apiflask import APIFlask

__version__ = "0.1.0"


def create_app(test_config: Mapping[str, Any] | None = None) -> "APIFlask":
    """App factory: defaults, then ``MEMO_*`` environment variables, then ``test_config``.

    Builds the engine (store, index, models) once and keeps it in ``app.extensions["memo"]``;
    on the first start of an empty store it ingests ``SEEDS_DIR``. Auth, rate limits and the
    OpenAPI notes on them are set up from the same config.
    """
    from pathlib import Path

    from apiflask import APIFlask

    from service.api import views as api

    from service.api import auth

    from service import config

    from service.api import limits

    from service.api import openapi

    from service.api import web
    from service.engine import build_engine

    app = APIFlask(__name__, title="Memo brief & ask", version=__version__, docs_path="/docs")
    app.json.sort_keys = False
    app.config.from_mapping(config.load_config(test_config))

    # Settings errors (a bad token file or rate) surface before the data dir is locked and models load.
    tokens = auth.load_auth(app.config)
    # The limiter's check runs first, so requests with wrong tokens are counted too.
    limiter = limits.install(app, tokens)
    auth.install(app, tokens)
    openapi.describe(app, tokens, rate_limited=limiter is not None)

    engine = build_engine(app.config)
    app.extensions["memo"] = engine
    if app.config["SEEDS_DIR"]:
        engine.intake.seed(Path(app.config["SEEDS_DIR"]))
    # In the background: /ask uses FTS5 for BM25 until the in-memory copy is filled (/health says when).
    engine.storage.warm()

    api.register_errors(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    return app
