"""``python -m bench``: ingest, /ask, briefs, RSS, vector search and the txtai peer in one run; JSON and a table."""
from __future__ import annotations

import json
import os
import platform
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench import data


@dataclass(frozen=True)
class BenchOptions:
    eval_dir: Path
    memos: tuple[int, ...] = (1000, 10000)  # served sizes; the first is posted over HTTP, the rest via memo ingest
    vectors: tuple[int, ...] = (100_000, 1_000_000)
    questions: int = 200  # per /ask pass with one client; the concurrent pass asks twice as many others
    clients: int = 8
    briefs: int = 100
    embedder: str = "minilm-q8"
    compare_embedders: tuple[str, ...] = ("minilm", "minilm-int8", "minilm-q8")
    embed_sample: int = 100  # memos whose sentences and chunks the embedder comparison embeds
    peer: bool = True
    # HNSW32 took 78 s to build at 100k on this machine (MEASUREMENTS.md) and more than linearly beyond
    hnsw_max: int = 100_000


def quick_options(eval_dir: Path) -> BenchOptions:
    """A tiny run for CI's smoke test (about a minute): every section but the peer, on small sizes."""
    return BenchOptions(eval_dir, memos=(30, 60), vectors=(20_000,), questions=15, clients=8, briefs=10,
                        embed_sample=5, peer=False, hnsw_max=20_000)


def stored_chunk_texts(db_path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute(
            "SELECT substr(m.text, c.start + 1, c.end - c.start) FROM chunks c JOIN memos m ON m.id = c.memo_id ORDER BY c.id")]
    finally:
        conn.close()


def _in_process_search(data_dir: Path, embedder: str, questions: list[str]) -> dict:
    """Our search alone, in process (embed the question + FAISS, and hybrid with BM25), k=10."""
    from service.config import load_config
    from service.engine import build_engine

    engine = build_engine(load_config({"DATA_DIR": str(data_dir), "EMBEDDER": embedder, "LLM": "none", "SEEDS_DIR": None}))
    try:
        engine.storage.warm(); engine.storage.fts.wait()  # time the in-memory BM25, not FTS5 standing in while it fills
        out = {}
        for mode in ("dense", "hybrid"):
            engine.search(questions[0], 10, mode=mode)
            durations, _ = data.timed_calls(lambda q: engine.search(q, 10, mode=mode), questions, 1)
            out[mode] = data.latency(durations)
        return out
    finally:
        engine.close()


def _sample_texts(memos: list[str], embedder_name: str) -> list[str]:
    """The sentences and chunks ingest would embed for ``memos``."""
    from models import get_embedder
    from models.nlp.entities import NoEntities
    from models.nlp.sentences import SentenceSplitter
    from service.config import load_config
    from service.ingest.prepare import Preparer

    config = load_config()  # the chunk settings the served engine reads (defaults, then MEMO_* variables)
    prep = Preparer(get_embedder(embedder_name), SentenceSplitter(), NoEntities(), int(config["CHUNK_TOKENS"]),
                    int(config["CHUNK_OVERLAP"]), int(config["MAX_MEMO_CHARS"]))
    try:
        return [t for memo in memos for t in prep.cut(prep.draft(memo)).texts]
    finally:
        prep.close()


def run_bench(options: BenchOptions, command: str) -> dict:
    """Every section in turn; returns the result (also what ``write_report`` saves)."""
    from bench.embed import compare_embedders
    from bench.peer import run_peer
    from bench.served import cli_ingest, serve_and_measure
    from bench.vectors import run_vectors, stored_vectors
    from models import get_embedder
    from service.storage.embedded.vectors.kinds import IndexPolicy

    begun = time.perf_counter()
    docs = data.news_documents(options.eval_dir)
    texts = data.memo_texts(docs, max(options.memos))
    questions = data.questions(options.eval_dir)
    q1, qn = questions[: options.questions], questions[options.questions : 3 * options.questions]
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "command": command, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        "sections_s": {},
    }

    def section(name: str, started: float) -> None:
        result["sections_s"][name] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    sample = _sample_texts(texts[: options.embed_sample], options.embedder)
    result["embedders"] = compare_embedders(options.compare_embedders, sample, q1[:100])
    section("embedders", started)

    with tempfile.TemporaryDirectory(prefix="memo-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        served: dict = {}
        first = options.memos[0]
        started = time.perf_counter()
        served[str(first)] = serve_and_measure(data_dir, options.embedder, q1, qn, options.clients, options.briefs,
                                               new_texts=texts[:first])
        section(f"served_{first}", started)
        if options.peer:
            started = time.perf_counter()
            chunks = stored_chunk_texts(data_dir / "memos.sqlite3")
            peer = run_peer(Path(tmp), chunks, q1)
            ours = _in_process_search(data_dir, options.embedder, q1)
            ingest = served[str(first)]["ingest_http"]
            result["peer"] = {"txtai": peer, "ours_search": ours, "ratios": {
                "ingest_chunks_per_s_ours_over_txtai": round(ingest["chunks_per_s"] / peer["chunks_per_s"], 2),
                "search_p50_txtai_over_ours_dense": round(peer["search"]["p50_ms"] / ours["dense"]["p50_ms"], 2),
                "search_p95_txtai_over_ours_dense": round(peer["search"]["p95_ms"] / ours["dense"]["p95_ms"], 2),
                "search_p50_txtai_over_ours_hybrid": round(peer["search"]["p50_ms"] / ours["hybrid"]["p50_ms"], 2),
            }}
            section("peer", started)
        done = first
        for size in options.memos[1:]:
            started = time.perf_counter()
            result.setdefault("ingest_cli", []).append(cli_ingest(data_dir, texts[done:size], options.embedder))
            served[str(size)] = serve_and_measure(data_dir, options.embedder, q1, qn, options.clients, options.briefs)
            done = size
            section(f"served_{size}", started)
        result["served"] = served

        started = time.perf_counter()
        base = stored_vectors(data_dir / "memos.sqlite3")
        queries = get_embedder(options.embedder).embed(questions[:200])
        result["vectors"] = run_vectors(base, queries, options.vectors, IndexPolicy(), options.hnsw_max)
        section("vectors", started)
    result["duration_s"] = round(time.perf_counter() - begun, 1)
    return result


def table(result: dict) -> list[tuple[str, str]]:
    """The result as (measure, figure) rows."""
    from bench.tables import rows

    return rows(result)


def write_report(result: dict, out: Path | None) -> str:
    """The table as text; the JSON goes to ``out`` when given."""
    lines = [f"{name:58} {value}" for name, value in table(result)]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return "\n".join(lines)
