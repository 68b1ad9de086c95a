"""A small client of the service's own HTTP API, for the CLI talking to a running server (stdlib only)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterator, Sequence

from service.errors import describe_detail


class ApiError(Exception):
    """The server answered with an error (its ``{error, detail}``), or could not be reached."""


class Client:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> dict:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())
                detail = describe_detail(err.get("detail"))
                message = f"{err.get('error')}: {detail}" if detail else str(err.get("error"))
            except ValueError:
                message = exc.reason
            raise ApiError(f"{method} {path}: HTTP {exc.code} {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"cannot reach {self.base_url}: {getattr(exc, 'reason', exc)}") from None

    def ingest_batches(self, memos: Sequence[dict], batch: int, poll_s: float = 0.5,
                       progress: Callable[[int], None] = lambda n: None) -> Iterator[dict]:
        """Send ``memos`` through ``POST /memos/batch``, ``batch`` at a time, and follow each job to its end;
        yields each finished job. ``progress(n)`` as ``n`` more memos finish."""
        for start in range(0, len(memos), batch):
            accepted = self.call("POST", "/memos/batch", {"memos": list(memos[start : start + batch])})
            seen = 0
            while True:
                job = self.call("GET", f"/jobs/{accepted['job_id']}")
                finished = job["done"] + job["failed"]
                if finished > seen:
                    progress(finished - seen)
                    seen = finished
                if job["status"] in ("done", "failed"):
                    yield job
                    break
                time.sleep(poll_s)
