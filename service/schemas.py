"""Request and response schemas: they validate input and generate ``/openapi.json``."""
from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Date, Float, List, Nested, String
from apiflask.fields import Integer as _Integer
from apiflask.validators import Length, OneOf, Range
from flask import current_app
from marshmallow import RAISE, ValidationError, validates_schema
from marshmallow.validate import Validator

MAX_TAGS = 32
MAX_BRIEF_SENTENCES = 10


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


class MemoIn(Strict):
    text = String(required=True, validate=SettingLength(1, "MAX_MEMO_CHARS"),
                  metadata={"description": "The memo text (UTF-8); at most MEMO_MAX_MEMO_CHARS characters."})
    title = String(validate=Length(max=300), load_default=None)
    date = Date(load_default=None, metadata={"description": "ISO date; overrides a date in the memo's header."})
    source = String(validate=Length(max=300), load_default=None)
    tags = List(String(validate=Length(1, 64)), validate=Length(max=MAX_TAGS), load_default=None)


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


class MemoOut(MemoSummaryOut):
    text = String()
    created = Boolean(metadata={"description": "False when the same text was already stored."})


class MemoQuery(Strict):
    limit = Integer(load_default=20, validate=SettingRange(1, "MAX_PAGE"))
    offset = Integer(load_default=0, validate=Range(0, 1 << 62))
    date_from = Date(load_default=None)
    date_to = Date(load_default=None)
    tag = List(String(validate=Length(1, 64)), load_default=None, metadata={"description": "Repeatable; any of."})
    type = String(load_default=None, validate=Length(1, 64))

    @validates_schema
    def date_range(self, data: dict, **_: object) -> None:
        _check_range(data)


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
    mode = String(load_default="extractive", validate=OneOf(["extractive"]))

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


class BriefQuery(Strict):
    max_sentences = Integer(load_default=3, validate=Range(1, MAX_BRIEF_SENTENCES))


class SummariseIn(Strict):
    memo_id = String(validate=Length(1, 64), load_default=None)
    text = String(validate=SettingLength(1, "MAX_MEMO_CHARS"), load_default=None)
    max_sentences = Integer(load_default=3, validate=Range(1, MAX_BRIEF_SENTENCES))
    mode = String(load_default="extractive", validate=OneOf(["extractive"]))

    @validates_schema
    def one_source(self, data: dict, **_: object) -> None:
        if (data.get("memo_id") is None) == (data.get("text") is None):
            raise ValidationError("give exactly one of memo_id and text", "_schema")


class BriefSentenceOut(Schema):
    text = String()
    start = Integer()
    end = Integer()


class BriefOut(Schema):
    memo_id = String(allow_none=True)
    brief = String()
    sentences = List(Nested(BriefSentenceOut))
    method = String()


class HealthOut(Schema):
    status = String()
    memos = Integer()
    chunks = Integer()
    sentences = Integer()
    vectors = Integer()
    models = Nested(Schema.from_dict({"embedder": String(), "llm": String()})())


# Every error body, for APIFlask's generated error responses (plain OpenAPI, as APIFlask expects).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Short name of the error."},
        "detail": {"description": "A message, or field -> messages for validation errors."},
    },
}
