"""Request and response schemas: they validate input and generate ``/openapi.json``."""
from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Date, Dict, Float, List, Nested, String
from apiflask.fields import Integer as _Integer
from apiflask.validators import Length, OneOf, Range
from flask import current_app
from marshmallow import RAISE, ValidationError, validates_schema
from marshmallow.validate import Validator

from service.retrieval.lexical import phrase_key

MAX_TAGS = 32
MAX_BRIEF_SENTENCES = 10
MAX_TOPIC_MEMOS = 50
MAX_ENTITY_FILTERS = 10


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Integer(_Integer):
    """An integer that refuses ``5.5`` instead of truncating it (``5.0`` is still 5, as in JSON Schema)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer() is False:
            raise self.make_error("invalid")
        return super()._validated(value)


class SettingRange(Validator):
    """``min <= value <= app.config[key]``. The bound is read when used, so the limit a deployment sets
    (``MEMO_MAX_K``, ...) is the one requests are checked against and ``/openapi.json`` shows
    (apispec reads ``min``/``max`` off range-like validators)."""

    unit = ""

    def __init__(self, min: int, key: str) -> None:
        self.min = min
        self.key = key

    @property
    def max(self) -> int:
        return int(current_app.config[self.key])

    def measure(self, value: Any) -> Any:
        return value

    def __call__(self, value: Any) -> Any:
        if not self.min <= self.measure(value) <= self.max:
            raise ValidationError(f"Must be between {self.min} and {self.max}{self.unit} (the limit is MEMO_{self.key}).")
        return value


class SettingLength(SettingRange):
    """``min <= len(value) <= app.config[key]`` (documented as minLength/maxLength)."""

    equal = None
    unit = " characters"

    def measure(self, value: Any) -> int:
        return len(value)


def _check_range(data: dict) -> None:
    start, end = data.get("date_from"), data.get("date_to")
    if start and end and start > end:
        raise ValidationError("date_from is after date_to", "date_from")


def _has_words(value: str) -> None:
    if not phrase_key(value):
        raise ValidationError("an entity name needs a letter or digit")


def _entity_list(description: str) -> List:
    return List(String(validate=[Length(1, 100), _has_words]), load_default=None,
                validate=Length(max=MAX_ENTITY_FILTERS), metadata={"description": description})


ENTITY_MATCH = "Case-insensitive whole words: 'putin' matches 'Vladimir Putin'."


class MemoIn(Strict):
    text = String(required=True, validate=SettingLength(1, "MAX_MEMO_CHARS"),
                  metadata={"description": "The memo text (UTF-8); at most MEMO_MAX_MEMO_CHARS characters."})
    title = String(validate=Length(max=300), load_default=None)
    date = Date(load_default=None, metadata={"description": "ISO date; overrides a date in the memo's header."})
    source = String(validate=Length(max=300), load_default=None)
    tags = List(String(validate=Length(1, 64)), validate=Length(max=MAX_TAGS), load_default=None)


class BatchIn(Strict):
    memos = List(Nested(MemoIn), required=True, validate=SettingLength(1, "BATCH_MAX_MEMOS"), metadata={
        "description": "Memos as for POST /memos (JSON fields); at most MEMO_BATCH_MAX_MEMOS per request."})


class JobAcceptedOut(Schema):
    job_id = String()
    total = Integer()


class JobOut(Schema):
    job_id = String()
    status = String(metadata={"description": "queued | running | done (every memo indexed or failed) | failed"})
    total = Integer()
    done = Integer(metadata={"description": "memos indexed (stored, or found stored already)"})
    failed = Integer()
    errors = List(Dict(), metadata={"description": "{index, error} per memo that could not be stored"})
    memo_ids = List(String(allow_none=True), metadata={"description": "in batch order; null until indexed"})
    items = List(String(), metadata={"description": "each memo's status in batch order: queued | indexed | failed"})
    created_at = String()
    updated_at = String()


class MemoSummaryOut(Schema):
    id = String()
    title = String()
    date = String(allow_none=True)
    type = String(allow_none=True)
    source = String(allow_none=True)
    tags = List(String())
    chars = Integer()
    content_hash = String()
    created_at = String()
    updated_at = String()


class EntityOut(Schema):
    text = String(metadata={"description": "Always equal to memo.text[start:end]."})
    label = String(metadata={"description": "PERSON, ORG, or a place: GPE, LOC, FAC."})
    start = Integer()
    end = Integer()


class MemoOut(MemoSummaryOut):
    text = String()
    entities = List(Nested(EntityOut), allow_none=True, metadata={
        "description": "People, places and organisations, in text order; null in the answer to POST /memos that "
                       "stored a new memo, whose entities are read after the acknowledgement (entities_status)."})
    entities_status = String(metadata={"description": "ready: entities holds every mention; pending: not read "
                                                      "yet (GET /memos/{id} reads them if still pending, and "
                                                      "entity filters and facets count the memo)."})
    created = Boolean(metadata={"description": "False when the same text was already stored."})
    brief_status = String(metadata={"description": "The abstractive brief: ready (cached), fallback (the "
                                                   "model's brief did not hold up against the memo: the "
                                                   "extractive brief is served in its place), pending (the "
                                                   "background worker has yet to write it), off (no LLM)."})


class MemoFilterQuery(Strict):
    date_from = Date(load_default=None)
    date_to = Date(load_default=None)
    tag = List(String(validate=Length(1, 64)), load_default=None, metadata={"description": "Repeatable; any of."})
    type = String(load_default=None, validate=Length(1, 64))
    entity = _entity_list(f"Repeatable; the memo mentions all of them. {ENTITY_MATCH}")

    @validates_schema
    def date_range(self, data: dict, **_: object) -> None:
        _check_range(data)


class MemoQuery(MemoFilterQuery):
    limit = Integer(load_default=20, validate=SettingRange(1, "MAX_PAGE"))
    offset = Integer(load_default=0, validate=Range(0, 1 << 62))


class FacetQuery(MemoFilterQuery):
    entity_limit = Integer(load_default=30, validate=Range(1, 200), metadata={"description": "Entities to list."})


class CountOut(Schema):
    value = String(allow_none=True)
    memos = Integer()


class EntityFacetOut(Schema):
    text = String(metadata={"description": "The most frequent spelling; use it as an entity filter."})
    label = String()
    memos = Integer()


class FacetsOut(Schema):
    total = Integer(metadata={"description": "Memos that pass the filters."})
    types = List(Nested(CountOut))
    years = List(Nested(CountOut), metadata={"description": "Newest first; value null counts undated memos."})
    tags = List(Nested(CountOut))
    entities = List(Nested(EntityFacetOut), metadata={"description": "Mentioned by the most memos first."})


class MemoPage(Schema):
    items = List(Nested(MemoSummaryOut))
    total = Integer()
    limit = Integer()
    offset = Integer()


class DeletedOut(Schema):
    id = String()
    deleted = Boolean()


class AskIn(Strict):
    question = String(required=True, validate=SettingLength(1, "MAX_QUESTION_CHARS"))
    k = Integer(load_default=5, validate=SettingRange(1, "MAX_K"), metadata={"description": "Chunks to retrieve."})
    memo_ids = List(String(validate=Length(1, 64)), load_default=None, validate=Length(max=1000))
    date_from = Date(load_default=None)
    date_to = Date(load_default=None)
    tags = List(String(validate=Length(1, 64)), load_default=None, validate=Length(max=MAX_TAGS))
    entities = _entity_list(f"Only memos that mention all of these. {ENTITY_MATCH}")
    mode = String(load_default=None, validate=OneOf(["extractive", "generative"]), metadata={
        "description": "extractive: a sentence (or the phrase in it that answers), instant. generative: the "
                       "local LLM answers from the best sentences; its answer must be found verbatim in them "
                       "(then cited) or the extractive answer is returned. Needs MEMO_LLM. Not given: the "
                       "server's MEMO_ASK_MODE (by default auto: generative with qwen-1.5b, else extractive; "
                       "extractive for an anonymous request under MEMO_PUBLIC_READS); /health says which."})
    stream = Boolean(load_default=False, metadata={
        "description": "Server-sent events: `token` events as the model writes, then one `answer` event with "
                       "the grounded answer and citations. Implies mode generative; so does the header "
                       "Accept: text/event-stream."})

    @validates_schema
    def date_range(self, data: dict, **_: object) -> None:
        _check_range(data)


class CitationOut(Schema):
    memo_id = String()
    title = String()
    date = String(allow_none=True)
    start = Integer()
    end = Integer()
    quote = String(metadata={"description": "Always equal to memo.text[start:end]."})
    score = Float()


class SpanOut(Schema):
    memo_id = String()
    start = Integer()
    end = Integer()
    quote = String()


class AskOut(Schema):
    answer = String(allow_none=True)
    confidence = Float()
    abstained = Boolean()
    mode = String()
    span = Nested(SpanOut, allow_none=True, metadata={"description": "Where the answer text sits."})
    citations = List(Nested(CitationOut))
    generated = String(allow_none=True, metadata={"description": "generative only: the model's own words."})
    grounding = String(allow_none=True, metadata={
        "description": "generative only: grounded (the answer is a verbatim span of citations[0]), "
                       "extractive-fallback (the model's answer was not in the memos: the extractive answer "
                       "is returned), abstained (no support found; the model was not asked), declined "
                       "(support too weak for the extractive answer: the model was asked, and its answer was "
                       "not found in what it read, so the question is abstained)."})


BRIEF_MODE = {"description": "extractive: the memo's key sentences. abstractive: 2-3 sentences from the local "
                             "LLM, each checked against the memo (needs MEMO_LLM); cached by content hash."}


class BriefQuery(Strict):
    max_sentences = Integer(load_default=3, validate=Range(1, MAX_BRIEF_SENTENCES))
    mode = String(load_default="extractive", validate=OneOf(["extractive", "abstractive"]), metadata=BRIEF_MODE)


_TOPIC_FIELDS = ("date_from", "date_to", "k", "tags", "entities")


class SummariseIn(Strict):
    """One of: ``memo_id`` (a stored memo's brief), ``text`` (any text's brief), ``query`` (a topic brief
    across memos, with the filters and ``k`` that only it takes)."""

    memo_id = String(validate=Length(1, 64), load_default=None)
    text = String(validate=SettingLength(1, "MAX_MEMO_CHARS"), load_default=None)
    query = String(validate=SettingLength(1, "MAX_QUESTION_CHARS"), load_default=None,
                   metadata={"description": "A topic: returns a dated timeline of the memos about it."})
    max_sentences = Integer(load_default=None, validate=Range(1, MAX_BRIEF_SENTENCES),
                            metadata={"description": "memo_id/text only; default 3."})
    k = Integer(load_default=None, validate=Range(1, MAX_TOPIC_MEMOS),
                metadata={"description": "query only: at most this many memos on the timeline; default 10."})
    date_from = Date(load_default=None, metadata={"description": "query only."})
    date_to = Date(load_default=None, metadata={"description": "query only."})
    tags = List(String(validate=Length(1, 64)), load_default=None, validate=Length(max=MAX_TAGS),
                metadata={"description": "query only: memos with any of these tags."})
    entities = _entity_list(f"query only: memos that mention all of these. {ENTITY_MATCH}")
    mode = String(load_default="extractive", validate=OneOf(["extractive", "abstractive"]), metadata=BRIEF_MODE)

    @validates_schema
    def one_source(self, data: dict, **_: object) -> None:
        given = [name for name in ("memo_id", "text", "query") if data.get(name) is not None]
        if len(given) != 1:
            raise ValidationError("give exactly one of memo_id, text and query", "_schema")
        if given[0] == "query":
            if data.get("max_sentences") is not None:
                raise ValidationError("max_sentences applies to memo_id or text, not query", "max_sentences")
            _check_range(data)
        else:
            for name in _TOPIC_FIELDS:
                if data.get(name) is not None:
                    raise ValidationError(f"{name} applies to query only", name)


class BriefSentenceOut(Schema):
    text = String()
    start = Integer(metadata={"description": "extractive: text == memo.text[start:end]. abstractive: where the "
                                             "memo sentence closest to it (quote) sits."})
    end = Integer()
    quote = String(metadata={"description": "abstractive only: memo.text[start:end], the supporting sentence."})
    similarity = Float(metadata={"description": "abstractive only: cosine to the supporting sentence."})


class BriefOut(Schema):
    memo_id = String(allow_none=True)
    brief = String()
    sentences = List(Nested(BriefSentenceOut))
    method = String(metadata={"description": "extractive-lead, or abstractive:<model>; an abstractive request "
                                             "answered extractive-lead had no supported sentence left."})
    dropped = List(String(), metadata={"description": "abstractive only: generated sentences the memo does not "
                                                      "support, left out."})


class TimelinePointOut(Schema):
    memo_id = String()
    date = String(allow_none=True)
    title = String()
    point = String(metadata={"description": "The memo's sentence that best supports the query."})
    score = Float()
    citations = List(Nested(CitationOut), metadata={"description": "Where the point sits in its memo."})


class TopicOut(Schema):
    query = String()
    brief = String(allow_none=True, metadata={"description": "A paragraph of the timeline's best points, each "
                                                            "after its date; null when no memo supports it."})
    abstained = Boolean(metadata={"description": "True when no memo supports the query (timeline empty)."})
    method = String()
    timeline = List(Nested(TimelinePointOut), metadata={"description": "By memo date; undated memos last."})


class HealthOut(Schema):
    status = String()
    memos = Integer()
    chunks = Integer()
    sentences = Integer()
    vectors = Integer()
    sentences_pending = Integer(metadata={"description": "memos stored and searchable whose sentence vectors "
                                                         "the background filler has yet to store (readers "
                                                         "embed them on the spot meanwhile)"})
    entities_pending = Integer(metadata={"description": "memos stored and searchable whose entities the "
                                                        "background filler has yet to read (a memo's page, "
                                                        "entity filters and facets read them first)"})
    backend = String(metadata={"description": "the storage backend that serves: sqlite (embedded, one data dir)"})
    lexical_index = String(metadata={"description": "ready: BM25 from the in-memory copy; filling: from "
                                                    "SQLite FTS5 (same ranks, slower) while the copy is built "
                                                    "after start-up"})
    models = Nested(Schema.from_dict({"embedder": String(), "entities": String(), "llm": String()})())
    ask_mode = String(metadata={"description": "what POST /ask does when a request names no mode: extractive "
                                               "or generative (MEMO_ASK_MODE)"})


# Every error body, for APIFlask's generated error responses (plain OpenAPI, as APIFlask expects).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Short name of the error."},
        "detail": {"description": "A message, or field -> messages for validation errors."},
    },
}
