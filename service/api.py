"""The JSON API: thin views that validate, call one engine method, and shape the answer."""
from __future__ import annotations

import logging
from datetime import date as Date
from typing import Any

from apiflask import APIBlueprint, APIFlask
from apiflask.exceptions import HTTPError
from flask import current_app, request
from marshmallow import RAISE
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge

from service import schemas
from service.engine import Engine
from service.errors import MemoError
from service.payload import JSON, MEMO_TYPES, check_body, read_memo_request
from service.present import answer_body, brief_body, memo_summary
from service.store import MemoFilter

log = logging.getLogger(__name__)

bp = APIBlueprint("api", __name__, tag="Memos")


def get_engine() -> Engine:
    return current_app.extensions["memo"]


def _iso(value: Date | None) -> str | None:
    return value.isoformat() if value else None


def _memo_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {"title": data.get("title"), "date": data.get("date"), "source": data.get("source"), "tags": data.get("tags")}


@bp.before_request
def check_request_body() -> None:
    """Bodies are JSON (POST /memos also takes uploads and plain text); refuse the rest before a view runs."""
    if request.method in ("POST", "PUT", "PATCH"):
        check_body(MEMO_TYPES if request.endpoint == "api.create_memo" else (JSON,))


@bp.after_request
def json_only(response):
    """Memo text may hold HTML or script: no browser may sniff a response into a page or run anything in it."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    return response


# -- views ---------------------------------------------------------------------------------------


@bp.post("/memos")
@bp.input(schemas.MemoIn, location="json", validation=False, arg_name="_body")
@bp.output(schemas.MemoOut, status_code=201, description="Stored")
@bp.doc(responses={200: "The same text was already stored: the existing memo"})
def create_memo(_body):
    """Add a memo (JSON, a multipart ``file`` upload, or a text/plain body)."""
    data = read_memo_request()
    memo, created = get_engine().ingest(data["text"], **_memo_fields(data))
    return {**memo_summary(memo), "text": memo.text, "created": created}, 201 if created else 200


@bp.get("/memos")
@bp.input(schemas.MemoQuery, location="query", unknown=RAISE)
@bp.output(schemas.MemoPage)
def list_memos(query_data):
    """Memos, newest first, a page at a time, filtered by date range, tag or type."""
    q = query_data
    where = MemoFilter(date_from=_iso(q["date_from"]), date_to=_iso(q["date_to"]), tags=tuple(q["tag"] or ()),
                       type=q["type"])
    items, total = get_engine().list(where, q["limit"], q["offset"])
    return {"items": [memo_summary(m) for m in items], "total": total, "limit": q["limit"], "offset": q["offset"]}


@bp.get("/memos/<memo_id>")
@bp.output(schemas.MemoOut)
def get_memo(memo_id: str):
    """One memo with its text and metadata."""
    memo = get_engine().get(memo_id)
    return {**memo_summary(memo), "text": memo.text}


@bp.put("/memos/<memo_id>")
@bp.input(schemas.MemoIn)
@bp.output(schemas.MemoOut)
def replace_memo(memo_id: str, json_data):
    """Replace a memo's text; metadata not given is kept."""
    memo = get_engine().update(memo_id, json_data["text"], **_memo_fields(json_data))
    return {**memo_summary(memo), "text": memo.text}


@bp.delete("/memos/<memo_id>")
@bp.output(schemas.DeletedOut)
def delete_memo(memo_id: str):
    """Remove a memo, its chunks and its vectors."""
    get_engine().delete(memo_id)
    return {"id": memo_id, "deleted": True}


@bp.get("/memos/<memo_id>/brief")
@bp.input(schemas.BriefQuery, location="query", unknown=RAISE)
@bp.output(schemas.BriefOut)
def memo_brief(memo_id: str, query_data):
    """The memo's key sentences, in memo order (cached by content hash)."""
    return brief_body(get_engine().brief(memo_id, query_data["max_sentences"]), memo_id)


@bp.post("/summarise")
@bp.input(schemas.SummariseIn)
@bp.output(schemas.BriefOut)
@bp.doc(responses={404: "No memo with that memo_id"})
def summarise(json_data):
    """Brief a stored memo (``memo_id``) or any text (``text``)."""
    engine, n = get_engine(), json_data["max_sentences"]
    if json_data["memo_id"] is not None:
        return brief_body(engine.brief(json_data["memo_id"], n), json_data["memo_id"])
    return brief_body(engine.brief_text(json_data["text"], n), None)


@bp.post("/ask")
@bp.input(schemas.AskIn)
@bp.output(schemas.AskOut)
def ask(json_data):
    """Answer from the memos with cited quotes, or abstain when they do not say."""
    d = json_data
    where = MemoFilter(
        memo_ids=tuple(d["memo_ids"]) if d["memo_ids"] is not None else None,
        date_from=_iso(d["date_from"]), date_to=_iso(d["date_to"]), tags=tuple(d["tags"] or ()),
    )
    result, memos = get_engine().ask(d["question"], d["k"], where)
    return answer_body(result, memos)


@bp.get("/health")
@bp.output(schemas.HealthOut)
def health():
    """Counts that must agree (chunks == vectors) and the models in use."""
    engine = get_engine()
    counts = engine.health()
    ok = counts["chunks"] == counts["vectors"]
    return {"status": "ok" if ok else "degraded", **counts,
            "models": {"embedder": engine.embedder.name, "llm": current_app.config["LLM"]}}


# -- errors --------------------------------------------------------------------------------------


def register_errors(app: APIFlask) -> None:
    """Every error leaves as JSON ``{error, detail}`` with its status."""

    @app.error_processor
    def http_error(error: HTTPError):
        detail = error.detail or _describe(error.status_code) or error.message
        return {"error": error.message, "detail": detail}, error.status_code, error.headers

    @app.errorhandler(MemoError)
    def memo_error(error: MemoError):
        return {"error": error.title, "detail": error.detail or error.title}, error.status, error.headers

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return {"error": "Payload too large",
                "detail": f"the body is over {limit} bytes (MEMO_MAX_CONTENT_LENGTH)"}, 413

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError):
        log.error("unhandled error", exc_info=error.original_exception)
        return {"error": "Internal Server Error", "detail": "the service failed; see its log"}, 500


def _describe(status: int) -> str | None:
    try:
        from werkzeug.exceptions import default_exceptions

        return default_exceptions[status].description
    except KeyError:
        return None
