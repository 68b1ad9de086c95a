"""Optional bearer-token auth, secure by default: once tokens exist every API call but ``/health`` needs one,
unless ``PUBLIC_READS`` opens the cheap reads; a request that runs the LLM always needs one. Tokens are kept
as sha256 digests and compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, g, request

from service.config import ask_mode, flag
from service.errors import Unauthorized

# POSTs that only read: open with the GETs under PUBLIC_READS, unless they run the model.
QUERY_ENDPOINTS = frozenset({"api.ask", "api.summarise"})
# Always open: load balancers and the lead's monitoring probe it without credentials.
OPEN_ENDPOINTS = frozenset({"api.health"})
SCHEME = "bearerAuth"
_HASHED = re.compile(r"sha256:([0-9a-f]{64})")


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenAuth:
    """The accepted tokens (as digests) and whether cheap reads are open to all. No digests: auth is off."""

    digests: tuple[bytes, ...] = ()
    public_reads: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def valid(self, token: str) -> bool:
        """Constant time in the token: every stored digest is compared, with ``hmac.compare_digest``."""
        presented = digest(token)
        matched = False
        for known in self.digests:
            matched |= hmac.compare_digest(presented, known)
        return matched

    def needs_token(self, endpoint: str | None, method: str, runs_model: bool = False) -> bool:
        """Every API call needs one once tokens exist; with ``public_reads``, reads that do not run the
        model (lists, memos, extractive answers and briefs) do not."""
        if not self.enabled or endpoint is None or not endpoint.startswith("api.") or endpoint in OPEN_ENDPOINTS:
            return False
        reads = method in ("GET", "HEAD") or endpoint in QUERY_ENDPOINTS
        return runs_model or not (reads and self.public_reads)

    def identity(self, header: str | None) -> str | None:
        """A stable, non-secret name for a valid token in an ``Authorization`` header (for rate limits)."""
        token = bearer_token(header)
        if token is None or not self.valid(token):
            return None
        return digest(token).hex()[:16]

    def check(self, endpoint: str | None, method: str, header: str | None, runs_model: bool = False) -> None:
        """Raise Unauthorized (401) when the request needs a token and has no valid one."""
        if not self.needs_token(endpoint, method, runs_model):
            return
        token = bearer_token(header)
        if token is None:
            raise Unauthorized("this endpoint needs 'Authorization: Bearer <token>'")
        if not self.valid(token):
            raise Unauthorized("the bearer token is not valid", error="invalid_token")


def bearer_token(header: str | None) -> str | None:
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def load_auth(config: Mapping[str, Any]) -> TokenAuth:
    """Tokens from ``API_TOKENS`` (comma-separated) and ``API_TOKEN_FILE`` (one a line, ``#`` starts a
    comment line; a line ``sha256:<hex>`` gives a token's digest instead of the token)."""
    entries = str(config.get("API_TOKENS") or "").split(",")
    path = config.get("API_TOKEN_FILE")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"MEMO_API_TOKEN_FILE: cannot read {path}: {exc.strerror}") from None
        entries.extend(line for line in lines if not line.lstrip().startswith("#"))
    digests: dict[bytes, None] = {}
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        hashed = _HASHED.fullmatch(entry.lower())
        digests[bytes.fromhex(hashed.group(1)) if hashed else digest(entry)] = None
    return TokenAuth(tuple(digests), public_reads=flag(config, "PUBLIC_READS"))


def runs_model(endpoint: str | None, llm_on: bool, generative_default: bool = False) -> bool:
    """Whether the current request would run the LLM: a generative or streamed answer (an /ask naming no
    mode is generative when that is the server's default), an abstractive brief, a topic's paragraph
    (written by the LLM whenever the tier is on). Read before the view runs."""
    if endpoint == "api.memo_brief":
        return request.args.get("mode", "").strip().lower() == "abstractive"
    if endpoint not in QUERY_ENDPOINTS:
        return False
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    if endpoint == "api.ask":
        mode, streamed = _ask_choice(body)
        return mode == "generative" or streamed or (mode is None and generative_default)
    return body.get("mode") == "abstractive" or (llm_on and body.get("query") is not None)


def install(app: Flask, auth: TokenAuth) -> None:
    """Check tokens before every API view; ``auth`` lives on ``app.extensions["memo_auth"]``."""
    app.extensions["memo_auth"] = auth

    llm_on = str(app.config.get("LLM", "none")).lower() != "none"
    generative_default = ask_mode(app.config) == "generative"

    @app.before_request
    def require_token() -> None:
        if not auth.enabled:
            return
        header = request.headers.get("Authorization")
        model = runs_model(request.endpoint, llm_on, generative_default)
        if model and auth.public_reads and leaves_mode(request.endpoint) and auth.identity(header) is None:
            # an anonymous /ask that names no mode gets the extractive answer open to all, not a 401
            g.ask_mode = "extractive"
            model = False
        auth.check(request.endpoint, request.method, header, model)


def leaves_mode(endpoint: str | None) -> bool:
    """Whether the current request is an /ask that names no mode and does not ask for a stream."""
    if endpoint != "api.ask":
        return False
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return False
    _, streamed = _ask_choice(body)
    return "mode" not in body and not streamed


def _ask_choice(body: dict) -> tuple[Any, bool]:
    """An /ask body's mode (None when not named) and whether it asks for a stream (field or Accept)."""
    return body.get("mode"), body.get("stream") is True or request.accept_mimetypes.best == "text/event-stream"
