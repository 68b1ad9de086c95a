"""Domain errors. Each carries its HTTP status; one handler in the app turns them into ``{error, detail}``."""
from __future__ import annotations

from typing import Any


class MemoError(Exception):
    """Base of the service's own errors."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail if detail is not None else self.title)
        self.detail = detail
        self.headers: dict[str, str] = {}


class InvalidInput(MemoError):
    """The request is well formed but its content is not acceptable."""

    status = 422
    title = "Invalid input"


class BadRequest(MemoError):
    """The request cannot be read (wrong encoding, missing body)."""

    status = 400
    title = "Bad request"


class Unauthorized(MemoError):
    """No bearer token, or one that is not valid (RFC 6750: 401 with ``WWW-Authenticate``)."""

    status = 401
    title = "Unauthorized"

    def __init__(self, detail: Any = None, error: str | None = None) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Bearer realm="memo"' + (f', error="{error}"' if error else "")}


class UnsupportedMediaType(MemoError):
    status = 415
    title = "Unsupported media type"


class NotFound(MemoError):
    status = 404
    title = "Not found"


class Conflict(MemoError):
    status = 409
    title = "Conflict"


class DataDirLocked(MemoError):
    """Another process holds the data directory."""

    status = 503
    title = "Data directory in use"


class IndexMismatch(MemoError):
    """A saved index does not belong to the store beside it (the engine rebuilds it)."""

    title = "Index does not match the store"


class Busy(MemoError):
    """The local model is taken; try again after ``retry_after`` seconds."""

    status = 503
    title = "Service busy"

    def __init__(self, detail: object = None, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class DatabaseSetupError(MemoError):
    """The database cannot serve this service (no pgvector, a newer schema, vectors of another dimension)."""

    title = "Database not usable"


class TransferError(MemoError):
    """A data dir cannot be copied into a database, or the copy does not match it."""

    title = "Migration failed"


class StorageUnavailable(Busy):
    """The database server cannot be reached (down, restarting, or every pooled connection in use past the
    wait): 503 with ``Retry-After``; the pool reconnects by itself when the server is back."""

    title = "Database unavailable"


class ModelOff(MemoError):
    """A generative mode was asked for while no LLM is configured (``MEMO_LLM=none``)."""

    status = 409
    title = "Local LLM is off"


class LlmUnavailable(MemoError):
    """``MEMO_LLM`` names a model this installation cannot load: unknown, or neither prepared in the model cache
    nor buildable here (a container image holds only the models its build prepared). Refused at start."""

    status = 503
    title = "Local LLM unavailable"

    def __init__(self, choice: str, reason: str) -> None:
        super().__init__(f"MEMO_LLM={choice}: {reason}. Set MEMO_LLM to a model ready here, or to none (extractive "
                         "answers only); see docs/deployment.md for an image with another model")


def describe_detail(detail: object) -> str:
    """An error's detail as one line: ``{"question": ["question is empty"]}`` reads ``question: question is
    empty`` (nested fields joined with dots, several messages with ``;``)."""
    parts: list[str] = []

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (list, tuple)):
            messages = [str(v) for v in value if not isinstance(v, (dict, list, tuple))]
            if messages:
                parts.append(f"{path}: {' '.join(messages)}" if path else " ".join(messages))
            for inner in value:
                if isinstance(inner, (dict, list, tuple)):
                    walk(inner, path)
        elif value is not None:
            parts.append(f"{path}: {value}" if path else str(value))

    walk(detail, "")
    return "; ".join(parts)
