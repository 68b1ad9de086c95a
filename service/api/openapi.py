"""What ``/openapi.json`` says beyond the schemas: body errors, uploads, and this deployment's auth and limits."""
from __future__ import annotations

import re
from typing import Any

from flask import Flask

from service.api.auth import SCHEME, TokenAuth
from service.api.limits import limited

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
BODY_ERRORS = {
    "400": "The body cannot be read: not UTF-8, not JSON, or an unpaired surrogate escape",
    "413": "The body is larger than MEMO_MAX_CONTENT_LENGTH",
    "415": "Unsupported content type",
}
MEMO_UPLOADS = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "A UTF-8 .txt or .md memo."},
                "title": {"type": "string", "maxLength": 300},
                "date": {"type": "string", "format": "date"},
                "source": {"type": "string", "maxLength": 300},
                "tags": {"type": "string", "description": "Comma-separated tags."},
            },
        }
    },
    # No schema: any UTF-8 body is a string, so there is nothing a fuzzer could get "wrong" but the bytes.
    "text/plain": {"example": "2 May 2024; MEMO: The port of Tartus reopened after repairs."},
}
# endpoints where some requests run the LLM (service.api.auth.runs_model)
MODEL_ENDPOINTS = frozenset({"api.ask", "api.summarise", "api.memo_brief"})
_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": ERROR}
    if headers:
        response["headers"] = headers
    return response


def describe(app: Flask, auth: TokenAuth, rate_limited: bool) -> None:
    """Add the bearer scheme (when tokens are set) and a spec processor that documents, per operation,
    the 400/413/415 of bodies, the 401 of token-protected calls and the 429 of rate-limited ones."""
    if auth.enabled:
        app.config["SECURITY_SCHEMES"] = {SCHEME: {"type": "http", "scheme": "bearer"}}

    @app.spec_processor
    def document(spec: dict[str, Any]) -> dict[str, Any]:
        for rule in app.url_map.iter_rules():
            path = _RULE_ARG.sub(r"{\1}", rule.rule)
            for method in rule.methods or ():
                op = spec.get("paths", {}).get(path, {}).get(method.lower())
                if op is not None:
                    _document(op, rule.endpoint, method, auth, rate_limited)
        return spec


def _document(op: dict[str, Any], endpoint: str, method: str, auth: TokenAuth, rate_limited: bool) -> None:
    responses = op.setdefault("responses", {})
    if "requestBody" in op:
        op["requestBody"]["required"] = True
        for status, description in BODY_ERRORS.items():
            responses.setdefault(status, _error(description))
    if endpoint == "api.create_memo":
        op["requestBody"]["content"].update(MEMO_UPLOADS)
    if auth.needs_token(endpoint, method):
        op["security"] = [{SCHEME: []}]
        responses["401"] = _error("No bearer token, or not a valid one",
                                  {"WWW-Authenticate": {"schema": {"type": "string"}}})
    elif auth.needs_token(endpoint, method, runs_model=True) and endpoint in MODEL_ENDPOINTS:
        op["security"] = [{}, {SCHEME: []}]  # open (MEMO_PUBLIC_READS) unless the request runs the LLM
        responses["401"] = _error("A request that runs the LLM (generative, streamed, abstractive, a topic's "
                                  "paragraph) without a valid bearer token",
                                  {"WWW-Authenticate": {"schema": {"type": "string"}}})
    if rate_limited and limited(endpoint):
        responses["429"] = _error("Rate limit exceeded (MEMO_RATELIMIT)",
                                  {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}})
