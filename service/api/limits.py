"""Rate limits on the API (Flask-Limiter): one budget per bearer token, else per client address."""
from __future__ import annotations

import time
from typing import Any, Mapping

from flask import Flask, request

from service.api.auth import OPEN_ENDPOINTS, TokenAuth

OFF = {"", "0", "off", "none", "false", "no"}


def rate_setting(config: Mapping[str, Any]) -> str | None:
    """The ``RATELIMIT`` setting as a limits string ("300 per minute", "10/second;1000/hour"), None when off."""
    value = config.get("RATELIMIT")
    if value is None or value is False or str(value).strip().lower() in OFF:
        return None
    from limits import parse_many

    try:
        parse_many(str(value))
    except ValueError as exc:
        raise ValueError(f"MEMO_RATELIMIT: {exc}") from None
    return str(value)


def storage_uri(config: Mapping[str, Any]) -> str:
    """Where the counters live: ``RATELIMIT_STORAGE_URI``, else the shared ``REDIS_URL`` (one budget across
    every replica), else this process's memory."""
    return str(config.get("RATELIMIT_STORAGE_URI") or config.get("REDIS_URL") or "memory://")


def limited(endpoint: str | None) -> bool:
    """The JSON API is limited; /health, the docs and the spec are not."""
    return bool(endpoint) and endpoint.startswith("api.") and endpoint not in OPEN_ENDPOINTS


def client_key(auth: TokenAuth) -> str:
    """A valid token's identity, else the client address: a wrong token never buys a fresh budget."""
    identity = auth.identity(request.headers.get("Authorization"))
    return f"token:{identity}" if identity else f"addr:{request.remote_addr or 'unknown'}"


def install(app: Flask, auth: TokenAuth) -> "Limiter | None":  # noqa: F821
    """Limit the API per client; the limiter lives on ``app.extensions["limiter"]`` (Flask-Limiter's own key).

    Call before auth is installed: its check then runs after the limit, so guessing tokens is throttled too.
    """
    rate = rate_setting(app.config)
    if rate is None:
        return None
    from flask_limiter import HeaderNames, Limiter
    from flask_limiter.errors import RateLimitExceeded

    limiter = Limiter(
        key_func=lambda: client_key(auth),
        app=app,
        application_limits=[rate],
        application_limits_exempt_when=lambda: not limited(request.endpoint),
        storage_uri=storage_uri(app.config),
        headers_enabled=True,
        # Flask-Limiter would stamp its window reset into Retry-After on every response, clobbering the
        # Retry-After of a 503 (busy model); its value goes under its own name, ours stays true.
        header_name_mapping={HeaderNames.RETRY_AFTER: "X-RateLimit-Retry-After"},
        key_prefix="memo",
        # A storage that is down (a Redis URI) must not turn every request into a 500.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(error: RateLimitExceeded):
        stats = limiter.current_limit
        retry = max(1, int(stats.reset_at - time.time())) if stats else 60
        detail = f"rate limit {error.limit.limit} exceeded; retry in {retry} s"
        return {"error": "Too many requests", "detail": detail}, 429, {"Retry-After": str(retry)}

    return limiter
