"""The JSON API: thin views that validate, call one engine method, and shape the answer."""
from __future__ import annotations

import logging
from datetime import date as Date
from typing import Any

from apiflask import APIBlueprint, APIFlask
from apiflask.exceptions import HTTPError
from flask import current_app, g, request
from marshmallow import RAISE
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge

from service.api import schemas
from service.engine import Engine
from service.errors import MemoError
from service.api.events import stream_answer
from service.api.payload import JSON, MEMO_TYPES, check_body, read_memo_request
from service.ingest.jobs import job_meta
from service.api.present import answer_body, brief_body, facets_body, memo_body, memo_summary, topic_body
from service.types import Memo, MemoFilter

log = logging.getLogger(__name__)

bp = APIBlueprint("api", __name__, tag="Memos")


def get_engine() -> Engine:
    return current_app.extensions["memo"]


def _iso(value: Date | None) -> str | None:
    return value.isoformat() if value else None


def _memo_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {"title": data.get("title"), "date": data.get("date"), "source": data.get("source"), "tags": data.get("tags")}


def _query_filter(q: dict[str, Any]) -> MemoFilter:
    """The list filters of a ``GET /memos``-style query string."""
    return MemoFilter(date_from=_iso(q["date_from"]), date_to=_iso(q["date_to"]), tags=tuple(q["tag"] or ()),
                      type=q["type"], entities=tuple(q["entity"] or ()))


def _memo_with_entities(memo: Memo, read_now: bool = True) -> dict[str, Any]:
    """The memo body; ``read_now=False`` (the acknowledgement of a new memo) leaves entities that ingest
    deferred unread: ``entities`` null, ``entities_status`` pending."""
    engine = get_engine()
    return {**memo_body(memo, engine.entities(memo.id, read_now)), "brief_status": engine.brief_status(memo)}


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
    return {**_memo_with_entities(memo, read_now=not created), "created": created}, 201 if created else 200


@bp.post("/memos/batch")
@bp.input(schemas.BatchIn)
@bp.output(schemas.JobAcceptedOut, status_code=202, description="Accepted: the memos are stored in a job")
def create_batch(json_data):
    """Add many memos at once: stored in a job at once (202), embedded and indexed in the background;
    follow it at ``GET /jobs/{job_id}``. A memo that cannot be stored fails alone."""
    job = get_engine().submit_batch([(m["text"], job_meta(_memo_fields(m))) for m in json_data["memos"]])
    return {"job_id": job.id, "total": job.total}, 202


@bp.get("/jobs/<job_id>")
@bp.output(schemas.JobOut)
@bp.doc(responses={404: "No job with that id"})
def get_job(job_id: str):
    """A batch's progress: how many memos are indexed or failed, and their ids."""
    job = get_engine().job(job_id)
    return {"job_id": job.id, "status": job.status, "total": job.total, "done": job.done, "failed": job.failed,
            "errors": list(job.errors), "memo_ids": list(job.memo_ids), "items": list(job.items),
            "created_at": job.created_at, "updated_at": job.updated_at}


@bp.get("/memos")
@bp.input(schemas.MemoQuery, location="query", unknown=RAISE)
@bp.output(schemas.MemoPage)
def list_memos(query_data):
    """Memos, newest first, a page at a time, filtered by date range, tag, type or entity."""
    q = query_data
    items, total = get_engine().list(_query_filter(q), q["limit"], q["offset"])
    return {"items": [memo_summary(m) for m in items], "total": total, "limit": q["limit"], "offset": q["offset"]}


@bp.get("/memos/facets")
@bp.input(schemas.FacetQuery, location="query", unknown=RAISE)
@bp.output(schemas.FacetsOut)
def memo_facets(query_data):
    """How the memos that pass the filters split by type, year and tag, and the entities they mention most."""
    return facets_body(get_engine().facets(_query_filter(query_data), query_data["entity_limit"]))


@bp.get("/memos/<memo_id>")
@bp.output(schemas.MemoOut)
def get_memo(memo_id: str):
    """One memo with its text, metadata and entities."""
    return _memo_with_entities(get_engine().get(memo_id))


@bp.put("/memos/<memo_id>")
@bp.input(schemas.MemoIn)
@bp.output(schemas.MemoOut)
def replace_memo(memo_id: str, json_data):
    """Replace a memo's text; metadata not given is kept."""
    return _memo_with_entities(get_engine().update(memo_id, json_data["text"], **_memo_fields(json_data)))


@bp.delete("/memos/<memo_id>")
@bp.output(schemas.DeletedOut)
def delete_memo(memo_id: str):
    """Remove a memo, its chunks and its vectors."""
    get_engine().delete(memo_id)
    return {"id": memo_id, "deleted": True}


LLM_RESPONSES = {409: "An abstractive or generative mode without a local LLM (MEMO_LLM=none)",
                 503: "The local model is busy: try again after Retry-After seconds"}


@bp.get("/memos/<memo_id>/brief")
@bp.input(schemas.BriefQuery, location="query", unknown=RAISE)
@bp.output(schemas.BriefOut)
@bp.doc(responses=LLM_RESPONSES)
def memo_brief(memo_id: str, query_data):
    """The memo's brief: its key sentences in memo order, or (mode abstractive) the local LLM's checked
    sentences. Cached by content hash."""
    return brief_body(get_engine().brief(memo_id, query_data["max_sentences"], query_data["mode"]), memo_id)


def _filter(d: dict[str, Any], memo_ids: list[str] | None = None) -> MemoFilter:
    """The filters of an ``/ask`` or topic ``/summarise`` body."""
    return MemoFilter(memo_ids=tuple(memo_ids) if memo_ids is not None else None,
                      date_from=_iso(d["date_from"]), date_to=_iso(d["date_to"]), tags=tuple(d["tags"] or ()),
                      entities=tuple(d["entities"] or ()))


@bp.post("/summarise")
@bp.input(schemas.SummariseIn)
@bp.doc(responses={200: {
    "description": "A brief (for memo_id or text) or a topic timeline (for query)",
    "content": {"application/json": {"schema": {"oneOf": [schemas.BriefOut, schemas.TopicOut]}}},
}, 404: "No memo with that memo_id", **LLM_RESPONSES})
def summarise(json_data):
    """Brief a stored memo (``memo_id``) or any text (``text``), or a topic across memos (``query``)."""
    engine, d = get_engine(), json_data
    if d["query"] is not None:
        return schemas.TopicOut().dump(topic_body(engine.topic(d["query"], d["k"] or 10, _filter(d))))
    n, mode = d["max_sentences"] or 3, d["mode"]
    if d["memo_id"] is not None:
        return schemas.BriefOut().dump(brief_body(engine.brief(d["memo_id"], n, mode), d["memo_id"]))
    return schemas.BriefOut().dump(brief_body(engine.brief_text(d["text"], n, mode), None))


@bp.post("/ask")
@bp.input(schemas.AskIn)
@bp.output(schemas.AskOut)
@bp.doc(responses=LLM_RESPONSES)
def ask(json_data):
    """Answer from the memos with cited quotes, or abstain when they do not say. With ``stream`` (or
    ``Accept: text/event-stream``): server-sent events from the local LLM, then the grounded answer."""
    d = json_data
    where = _filter(d, d["memo_ids"])
    if d["stream"] or request.accept_mimetypes.best == "text/event-stream":
        return stream_answer(get_engine(), d["question"], d["k"], where)
    # no mode named: the server's default (MEMO_ASK_MODE), or extractive for an anonymous public read (auth)
    result, memos = get_engine().ask(d["question"], d["k"], where, d["mode"] or g.get("ask_mode"))
    return answer_body(result, memos)


@bp.get("/health")
@bp.output(schemas.HealthOut)
def health():
    """Counts that must agree (chunks == vectors) and the models in use."""
    engine = get_engine()
    counts = engine.health()
    ok = counts["chunks"] == counts["vectors"]
    return {"status": "ok" if ok else "degraded", **counts, "sentences_pending": engine.sentences_pending(),
            "entities_pending": engine.entities_pending(),
            "backend": engine.storage.backend,
            **engine.storage.status(),
            "models": {"embedder": engine.embedder.name, "entities": engine.entity_extractor.name,
                       "llm": current_app.config["LLM"]},
            "ask_mode": engine.settings.ask_mode}


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
