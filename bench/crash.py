"""Crash test: SIGKILL a real server mid-ingest, restart it, and check no acknowledged memo was lost."""
from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from bench.harness import CONNECTION_ERRORS, LOAD_ENV, ServerProcess, make_memo, seed_sentences, text_hash


@dataclass(frozen=True)
class TrialResult:
    """One kill and restart. ``unknown`` requests were cut off by the kill: stored or not, both are fine."""

    trial: int
    killed_after_s: float
    acknowledged: int
    unknown: int
    unknown_stored: int
    lost: int
    foreign: int
    errors: int
    chunks: int
    vectors: int
    index_rebuilt: bool
    temp_files_removed: bool
    restart_s: float
    first_error: str = ""

    @property
    def ok(self) -> bool:
        return self.lost == self.foreign == self.errors == 0 and self.chunks == self.vectors


@dataclass
class CrashReport:
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.trials) and all(t.ok for t in self.trials)

    def summary(self) -> dict:
        t = self.trials
        return {
            "trials": len(t),
            "failed_trials": sum(not r.ok for r in t),
            "acknowledged_memos": sum(r.acknowledged for r in t),
            "lost_acknowledged": sum(r.lost for r in t),
            "foreign_memos": sum(r.foreign for r in t),
            "unexpected_answers": sum(r.errors for r in t),
            "cut_off_requests": sum(r.unknown for r in t),
            "cut_off_but_stored": sum(r.unknown_stored for r in t),
            "chunks_ne_vectors_after_restart": sum(r.chunks != r.vectors for r in t),
            "restarts_that_rebuilt_the_index": sum(r.index_rebuilt for r in t),
            "restarts_that_removed_a_half_written_index": sum(r.temp_files_removed for r in t),
            "mean_restart_s": round(sum(r.restart_s for r in t) / max(1, len(t)), 2),
        }


class _Ingest:
    """Client threads that post distinct memos until told to stop or the server goes away."""

    def __init__(self, server: ServerProcess, clients: int, trial: int, rng: random.Random, pool: list[str]) -> None:
        self.server = server
        self.acked: dict[str, str] = {}  # id -> text, for 2xx answers only
        self.unknown: list[str] = []  # texts whose request the kill cut off
        self.errors: list[str] = []  # answers other than 200/201 before the kill
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.first_ack = threading.Event()
        self._texts = [[make_memo(random.Random(rng.random()), pool, f"T{trial}-C{c}-N{n}", 6) for n in range(200)]
                       for c in range(clients)]
        self._threads = [threading.Thread(target=self._post, args=(c,), daemon=True) for c in range(clients)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _post(self, client: int) -> None:
        for text in self._texts[client]:
            if self._stop.is_set():
                return
            try:
                status, body = self.server.call("POST", "/memos", {"text": text}, timeout=60)
            except CONNECTION_ERRORS:
                with self._lock:
                    self.unknown.append(text)
                return
            with self._lock:
                if status in (200, 201):
                    self.acked[body["id"]] = text
                    self.first_ack.set()
                else:
                    self.errors.append(f"{status} {body}")


def run_crash_trials(
    data_dir: Path,
    trials: int = 10,
    clients: int = 4,
    kill_window_s: tuple[float, float] = (0.0, 3.0),
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> CrashReport:
    """``trials`` times: ingest with ``clients`` threads, SIGKILL the server's process group at a random
    moment in ``kill_window_s`` after the first acknowledgement (a fresh worker's first embeddings are
    slow), restart it on the same data dir, and check every acknowledged memo (by content hash), no
    memo nobody sent, and ``chunks == vectors``."""
    rng = random.Random(seed)
    pool = seed_sentences()
    expected: dict[str, str] = {}  # every memo that must be there: id -> content hash
    report = CrashReport()
    server = ServerProcess(data_dir, env={**LOAD_ENV, "MEMO_SEEDS_DIR": ""}).start()
    try:
        for trial in range(trials):
            ingest = _Ingest(server, clients, trial, rng, pool)
            ingest.start()
            ingest.first_ack.wait(timeout=60)
            delay = rng.uniform(*kill_window_s)
            time.sleep(delay)
            server.stop(signal.SIGKILL)
            ingest.stop()

            t0 = time.perf_counter()
            server = ServerProcess(data_dir, env={**LOAD_ENV, "MEMO_SEEDS_DIR": ""}).start()
            restart_s = time.perf_counter() - t0
            result = _check(trial, delay, server, ingest, expected, restart_s)
            report.trials.append(result)
            log(f"trial {trial}: {asdict(result)}")
    finally:
        server.stop()
    return report


def _check(trial: int, delay: float, server: ServerProcess, ingest: _Ingest, expected: dict[str, str],
           restart_s: float) -> TrialResult:
    expected.update((memo_id, text_hash(text)) for memo_id, text in ingest.acked.items())
    stored = server.memo_hashes()
    lost = sum(stored.get(memo_id) != digest for memo_id, digest in expected.items())
    cut_off = {text_hash(t) for t in ingest.unknown}
    extra = {memo_id: digest for memo_id, digest in stored.items() if memo_id not in expected}
    landed = {memo_id: digest for memo_id, digest in extra.items() if digest in cut_off}
    expected.update(landed)  # a cut-off request that committed is a memo like any other from now on
    health = server.call("GET", "/health")[1]
    log = server.log_text()
    return TrialResult(
        trial=trial, killed_after_s=round(delay, 2), acknowledged=len(ingest.acked), unknown=len(ingest.unknown),
        unknown_stored=len(landed), lost=lost, foreign=len(extra) - len(landed), errors=len(ingest.errors),
        chunks=health["chunks"], vectors=health["vectors"],
        index_rebuilt="rebuilding the index" in log, temp_files_removed="interrupted index save" in log,
        restart_s=round(restart_s, 2), first_error=ingest.errors[0][:300] if ingest.errors else "",
    )
