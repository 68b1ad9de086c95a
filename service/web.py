"""Pages that are not the JSON API: the offline assets of the ``/docs`` page."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, abort, send_from_directory

bp = Blueprint("web", __name__)


def _swagger_dist() -> Path | None:
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "dist"


@bp.get("/docs/assets/<path:name>")
def docs_asset(name: str):
    """Swagger UI's files from the ``flask-swagger-ui`` package, so ``/docs`` works without internet."""
    dist = _swagger_dist()
    if dist is None:
        abort(404)
    return send_from_directory(dist, name)
