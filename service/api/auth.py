"""Optional bearer-token auth: tokens kept as sha256 digests, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, request

from service.config import flag
from service.errors import Unauthorized

# POSTs that only read: they need a token only when reads do.
QUERY_ENDPOINTS = frozenset({"api.ask", "api.summarise"})
# Always open: load balancers and the lead's monitoring probe it without credentials.
OPEN_ENDPOINTS = frozenset({"api.health"})
SCHEME = "bearerAuth"
_HASHED = re.compile(r"sha256:([0-9a-f]{64})")


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenAuth:
    """The accepted tokens (as digests) and whether reads need one. No digests: auth is off."""

    digests: tuple[bytes, ...] = ()
    reads: bool = False

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

    def needs_token(self, endpoint: str | None, method: str) -> bool:
        if not self.enabled or endpoint is None or not endpoint.startswith("api.") or endpoint in OPEN_ENDPOINTS:
            return False
        writes = method in ("POST", "PUT", "PATCH", "DELETE") and endpoint not in QUERY_ENDPOINTS
        return writes or self.reads

    def identity(self, header: str | None) -> str | None:
        """A stable, non-secret name for a valid token in an ``Authorization`` header (for rate limits)."""
        token = bearer_token(header)
        if token is None or not self.valid(token):
            return None
        return digest(token).hex()[:16]

    def check(self, endpoint: str | None, method: str, header: str | None) -> None:
        """Raise Unauthorized (401) when the request needs a token and has no valid one."""
        if not self.needs_token(endpoint, method):
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
    return TokenAuth(tuple(digests), reads=flag(config, "AUTH_READS"))


def install(app: Flask, auth: TokenAuth) -> None:
    """Check tokens before every API view; ``auth`` lives on ``app.extensions["memo_auth"]``."""
    app.extensions["memo_auth"] = auth

    @app.before_request
    def require_token() -> None:
        auth.check(request.endpoint, request.method, request.headers.get("Authorization"))
