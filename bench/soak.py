"""Concurrency soak: client threads mixing ingest, update, ask, brief and delete against a real server."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.harness import CONNECTION_ERRORS, LOAD_ENV, ServerProcess, make_memo, seed_sentences, text_hash

QUESTIONS = (
    "When did Russia intervene militarily in Syria?",
    "Which Russian military sites are in Syria?",
    "What did Assad say about Russian bases?",
    "What agreement will Damascus and Moscow sign?",
    "What is the boiling point of mercury?",
)
HOT_TEXTS = tuple(f"Shared notice {n}: every analyst posts this same text to test de-duplication." for n in range(3))
# operation -> weight
MIX = {"ingest": 30, "ask": 30, "brief": 15, "delete": 10, "update": 8, "post_shared": 7}


@dataclass
class Ledger:
    """What the clients were told, to compare with what the server has at the end."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    versions: dict[str, set[str]] = field(default_factory=dict)  # id -> every text acknowledged for it
    sent: list[str] = field(default_factory=list)  # every text posted, answered or not yet
    live: dict[str, str] = field(default_factory=dict)  # id -> its last acknowledged text
    deleted: set[str] = field(default_factory=set)
    shared_ids: dict[str, set[str]] = field(default_factory=dict)  # hot text -> ids it was given
    shared_created: Counter = field(default_factory=Counter)  # hot text -> 201 answers
    statuses: Counter = field(default_factory=Counter)  # "op status" -> count
    problems: list[str] = field(default_factory=list)

    def note(self, op: str, status: int | str) -> None:
        with self.lock:
            self.statuses[f"{op} {status}"] += 1

    def problem(self, message: str) -> None:
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(message)


@dataclass(frozen=True)
class SoakReport:
    seconds: float
    requests: int
    statuses: dict[str, int]
    server_errors: int
    lost_writes: int
    resurrected: int
    problems: tuple[str, ...]
    memos: int
    chunks: int
    vectors: int
    after_restart: dict[str, int]

    @property
    def ok(self) -> bool:
        counts_agree = self.chunks == self.vectors and self.after_restart == {
            "memos": self.memos, "chunks": self.chunks, "vectors": self.vectors}
        return self.server_errors == self.lost_writes == self.resurrected == 0 and not self.problems and counts_agree


class _Client:
    """One thread's share of the load; it alone updates and deletes the memos it created."""

    def __init__(self, n: int, server: ServerProcess, ledger: Ledger, rng: random.Random, pool: list[str]) -> None:
        self.n, self.server, self.ledger, self.rng, self.pool = n, server, ledger, rng, pool
        self.mine: dict[str, str] = {}
        self.made = 0

    def call(self, op: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        try:
            status, answer = self.server.call(method, path, body, timeout=120)
        except CONNECTION_ERRORS as exc:
            self.ledger.note(op, "connection-error")
            self.ledger.problem(f"{op} {method} {path}: {exc!r}")
            return 0, {}
        self.ledger.note(op, status)
        if status >= 500:
            self.ledger.problem(f"{op} {method} {path}: {status} {answer}")
        return status, answer

    def expect(self, op: str, status: int, wanted: tuple[int, ...], answer: dict) -> bool:
        if status in wanted:
            return True
        if status:
            self.ledger.problem(f"{op}: expected {wanted}, got {status} {answer}")
        return False

    def new_text(self) -> str:
        self.made += 1
        text = make_memo(self.rng, self.pool, f"S{self.n}-{self.made}", self.rng.randint(1, 4))
        with self.ledger.lock:
            self.ledger.sent.append(text)
        return text

    def run(self, deadline: float) -> None:
        ops, weights = list(MIX), list(MIX.values())
        while time.monotonic() < deadline:
            op = self.rng.choices(ops, weights)[0]
            if op in ("update", "delete", "brief") and not self.mine:
                op = "ingest"
            getattr(self, op)()

    def ingest(self) -> None:
        text = self.new_text()
        status, memo = self.call("ingest", "POST", "/memos", {"text": text})
        if self.expect("ingest", status, (201,), memo):
            self.mine[memo["id"]] = text
            with self.ledger.lock:
                self.ledger.versions.setdefault(memo["id"], set()).add(text)
                self.ledger.live[memo["id"]] = text

    def update(self) -> None:
        memo_id = self.rng.choice(list(self.mine))
        text = self.new_text()
        with self.ledger.lock:  # known before the answer: an /ask may cite it while the PUT is in flight
            self.ledger.versions[memo_id].add(text)
        status, memo = self.call("update", "PUT", f"/memos/{memo_id}", {"text": text})
        if self.expect("update", status, (200,), memo):
            self.mine[memo_id] = text
            with self.ledger.lock:
                self.ledger.live[memo_id] = text

    def delete(self) -> None:
        memo_id = self.rng.choice(list(self.mine))
        status, answer = self.call("delete", "DELETE", f"/memos/{memo_id}")
        if self.expect("delete", status, (200,), answer):
            del self.mine[memo_id]
            with self.ledger.lock:
                self.ledger.live.pop(memo_id, None)
                self.ledger.deleted.add(memo_id)

    def brief(self) -> None:
        memo_id = self.rng.choice(list(self.mine))
        status, brief = self.call("brief", "GET", f"/memos/{memo_id}/brief")
        if self.expect("brief", status, (200,), brief):
            text = self.mine[memo_id]
            if any(text[s["start"] : s["end"]] != s["text"] for s in brief["sentences"]):
                self.ledger.problem(f"brief of {memo_id} does not slice its text: {brief}")

    def ask(self) -> None:
        status, answer = self.call("ask", "POST", "/ask", {"question": self.rng.choice(QUESTIONS)})
        if not self.expect("ask", status, (200,), answer):
            return
        for c in answer["citations"]:
            with self.ledger.lock:
                # a memo whose 201 its client has not read yet is cited too: any text sent may match
                texts = self.ledger.versions.get(c["memo_id"]) or self.ledger.sent + list(HOT_TEXTS)
                texts = set(texts)
            if not any(t[c["start"] : c["end"]] == c["quote"] for t in texts):
                self.ledger.problem(f"citation matches no version of memo {c['memo_id']}: {c}")

    def post_shared(self) -> None:
        text = self.rng.choice(HOT_TEXTS)
        status, memo = self.call("post_shared", "POST", "/memos", {"text": text})
        if self.expect("post_shared", status, (200, 201), memo):
            with self.ledger.lock:
                self.ledger.shared_ids.setdefault(text, set()).add(memo["id"])
                self.ledger.shared_created[text] += status == 201
                self.ledger.versions.setdefault(memo["id"], set()).add(text)
                self.ledger.live[memo["id"]] = text


def run_soak(data_dir: Path, seconds: float = 30, clients: int = 16, seed: int = 0,
             log: Callable[[str], None] = print) -> SoakReport:
    """Run the mix for ``seconds``, then compare the server's memos with the ledger, restart the server
    on the same data dir and compare the counts again."""
    ledger = Ledger()
    pool = seed_sentences()
    env = {**LOAD_ENV, "MEMO_SEEDS_DIR": ""}
    with ServerProcess(data_dir, env=env) as server:
        rng = random.Random(seed)
        workers = [_Client(n, server, ledger, random.Random(rng.random()), pool) for n in range(clients)]
        deadline = time.monotonic() + seconds
        t0 = time.perf_counter()
        threads = [threading.Thread(target=w.run, args=(deadline,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        stored = server.memo_hashes()
        health = server.call("GET", "/health")[1]
        for memo_id in list(ledger.deleted)[:200]:
            if server.call("GET", f"/memos/{memo_id}")[0] != 404:
                ledger.problem(f"deleted memo {memo_id} is back")
    with ServerProcess(data_dir, env=env) as server:
        again = server.call("GET", "/health")[1]
    for text, ids in ledger.shared_ids.items():
        if len(ids) != 1 or ledger.shared_created[text] != 1:
            ledger.problem(f"shared text stored as {sorted(ids)}, created {ledger.shared_created[text]} times")
    lost = sum(stored.get(memo_id) != text_hash(text) for memo_id, text in ledger.live.items())
    resurrected = sum(memo_id in stored for memo_id in ledger.deleted)
    extra = set(stored) - set(ledger.live)
    if extra:
        ledger.problem(f"{len(extra)} memos nobody acknowledged: {sorted(extra)[:5]}")
    statuses = dict(sorted(ledger.statuses.items()))
    log(f"soak: {sum(statuses.values())} requests in {elapsed:.0f} s: {statuses}")
    return SoakReport(
        seconds=round(elapsed, 1), requests=sum(statuses.values()), statuses=statuses,
        server_errors=sum(n for k, n in statuses.items() if k.split()[-1].startswith("5")),
        lost_writes=lost, resurrected=resurrected, problems=tuple(ledger.problems),
        memos=health["memos"], chunks=health["chunks"], vectors=health["vectors"],
        after_restart={k: again[k] for k in ("memos", "chunks", "vectors")},
    )
