"""A real ``memo serve`` process for tests and benchmarks: start on a data dir, call over HTTP, stop."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Load generators (benchmark, crash test, soak) send far more than a client's rate limit.
# Load and reliability runs hammer the extractive tier: no rate limit, and no LLM (whatever the default).
LOAD_ENV = {"MEMO_RATELIMIT": "off", "MEMO_LLM": "none"}
# What a request to a server that is being killed can fail with.
CONNECTION_ERRORS = (OSError, http.client.HTTPException, ValueError)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 120,
            headers: dict[str, str] | None = None) -> tuple[int, dict, dict[str, str]]:
    """One JSON request to 127.0.0.1:port; returns (status, body, response headers), for errors too."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def call(port: int, method: str, path: str, body: dict | None = None, timeout: float = 120) -> tuple[int, dict]:
    """One JSON request to 127.0.0.1:port; returns (status, body) for errors too."""
    status, answer, _ = request(port, method, path, body, timeout)
    return status, answer


def text_hash(text: str) -> str:
    """The store's content hash of an already-normalised text (no CR, no NUL, no outer whitespace)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seed_sentences() -> list[str]:
    """The seed memos' sentences (split on end punctuation), raw material for synthetic memos."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt")))
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 20]


def make_memo(rng: random.Random, pool: list[str], marker: str, sentences: int) -> str:
    """A distinct memo: ``sentences`` random seed sentences and one that names ``marker``."""
    picked = rng.sample(pool, min(sentences, len(pool)))
    picked.insert(rng.randrange(len(picked) + 1), f"Reference {marker} was logged for this memo.")
    return " ".join(picked)


def write_report(result: dict, out: Path | None, ok: bool) -> None:
    """Print a script's result as JSON, save it to ``out`` if given, exit 0 when ``ok`` else 1."""
    print(json.dumps(result, indent=2))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    sys.exit(0 if ok else 1)


class ServerProcess:
    """``memo serve`` in its own process group on 127.0.0.1, with its own environment."""

    def __init__(self, data_dir: Path, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = {**os.environ, "MEMO_DATA_DIR": str(self.data_dir), "MEMO_PORT": str(self.port),
                    "MEMO_HOST": "127.0.0.1", "HF_HUB_OFFLINE": "1", **(env or {})}
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._log_start = 0

    def start(self, timeout: float = 180) -> "ServerProcess":
        """Start and wait until ``/health`` answers; raises with the end of the server's log if it dies.
        The log (stdout and stderr) goes to ``log_path``, beside the data dir: a pipe nobody reads would
        eventually block the server."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=ROOT, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                if self.call("GET", "/health", timeout=5)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer /health within {timeout} s")

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 120) -> tuple[int, dict]:
        return call(self.port, method, path, body, timeout)

    def memo_hashes(self) -> dict[str, str]:
        """Every stored memo's id and content hash, read a page at a time."""
        found: dict[str, str] = {}
        while True:
            status, page = self.call("GET", f"/memos?limit=100&offset={len(found)}")
            if status != 200:
                raise RuntimeError(f"GET /memos: {status} {page}")
            found.update((m["id"], m["content_hash"]) for m in page["items"])
            if not page["items"] or len(found) >= page["total"]:
                return found

    def log_text(self) -> str:
        """What this start of the server has logged so far."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

    def peak_rss_mb(self) -> float:
        """Peak RSS (VmHWM) over the gunicorn master and its workers (the worker holds the models)."""
        assert self.proc is not None
        pid = self.proc.pid
        peak = 0.0
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for p in [pid, *map(int, children)]:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        return round(peak, 1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole process group; SIGKILL it if it has not gone in 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
