"""Pages that are not the JSON API: the analyst's page at ``/`` and the offline assets of ``/docs``."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

PAGE_DIR = Path(__file__).resolve().parent / "page"

# The page loads only its own files and talks only to this service; inline script is refused, so memo
# text that slipped into markup could still not run.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)

bp = Blueprint("web", __name__, static_folder=str(PAGE_DIR), static_url_path="/page")


@bp.after_request
def protect(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.get("/")
def page():
    """The analyst's page: add memos, filter by facets, briefs, questions and topic timelines."""
    response = send_from_directory(PAGE_DIR, "index.html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


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
