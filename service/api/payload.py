"""Request bodies read defensively: content types, JSON that cannot be decoded, and memo uploads."""
from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import ValidationError

from service.api import schemas
from service.errors import BadRequest, InvalidInput, UnsupportedMediaType
from service.ingest.parse import read_memo_bytes

JSON = "application/json"
MEMO_TYPES = (JSON, "multipart/form-data", "text/plain", "text/markdown")


def check_body(accepted: tuple[str, ...] = (JSON,)) -> None:
    """Refuse a body of another content type (415) or JSON that cannot be decoded (400).

    Python's JSON decoder accepts things a JSON API must not: nesting deep enough to exhaust the recursion limit,
    and ``\\ud800`` escapes that decode to lone surrogates no UTF-8 store or tokenizer can take.
    """
    mimetype = request.mimetype
    if mimetype not in accepted:
        shown = ", ".join(accepted)
        raise UnsupportedMediaType(f"send {shown}, not {mimetype or 'a body without a Content-Type'}")
    if mimetype != JSON:
        return
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON ({exc})") from None
    bad = _first_unpaired_surrogate(body)
    if bad is not None:
        raise BadRequest(f"the JSON body has an unpaired surrogate escape ({bad}); text must be valid Unicode")


def _first_unpaired_surrogate(value: Any) -> str | None:
    """The first string (or key) in a decoded JSON value that is not encodable as UTF-8, if any."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"\\u{ord(item[exc.start]):04x} at character {exc.start}"
    return None


def read_memo_request() -> dict[str, Any]:
    """Memo fields from a JSON body, a multipart upload (``file`` part) or a plain-text body,
    validated by the same schema whichever way they came."""
    mimetype = request.mimetype
    if mimetype == JSON:
        fields = request.get_json()
    elif mimetype == "multipart/form-data":
        fields = _form_fields()
    else:
        fields = {"text": read_memo_bytes(request.get_data(), name="body")}
    try:
        return schemas.MemoIn().load(fields)
    except ValidationError as exc:
        raise InvalidInput(exc.messages) from None


def _form_fields() -> dict[str, Any]:
    upload = request.files.get("file")
    fields: dict[str, Any] = {k: v for k, v in request.form.items() if k not in ("text", "tags")}
    if upload is not None:
        fields["text"] = read_memo_bytes(upload.read(), name=upload.filename or "file")
        if not fields.get("source") and upload.filename:
            fields["source"] = upload.filename
    elif request.form.get("text"):
        fields["text"] = request.form["text"]
    else:
        raise InvalidInput({"file": ["send the memo as a 'file' part (or a 'text' field)"]})
    if "tags" in request.form:
        fields["tags"] = [t for t in request.form["tags"].split(",") if t.strip()]
    return fields
