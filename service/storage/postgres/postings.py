"""BM25 postings in PostgreSQL: each chunk's terms (``service.retrieval.lexical.index_terms``, as FTS5 makes
them in the embedded backend) with their counts, how many chunks hold each term, and the corpus totals, all
written in the memo's own transaction; the score is computed in SQL with the embedded backend's formula."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import psycopg

from service.retrieval.lexical import B, K1, index_terms


def count_terms(text: str) -> Counter[str]:
    """A chunk's terms and how often each occurs (their sum is the chunk's BM25 length)."""
    return Counter(index_terms(text))


def lock_stats(conn: psycopg.Connection) -> None:
    """Taken first by every write that adds or removes chunks: one writer of postings at a time, so the
    corpus totals stay exact and the ``term_stats`` upserts of two writers can never deadlock."""
    conn.execute("SELECT 1 FROM bm25_stats FOR UPDATE")


def add_postings(conn: psycopg.Connection, ids: Sequence[int], counts: Sequence[Counter[str]]) -> None:
    """Postings of new chunks ``ids`` (their terms ``counts``) and the statistics they change."""
    if not ids:
        return
    with conn.cursor().copy("COPY chunk_terms (term, chunk_id, tf, length) FROM STDIN") as copy:
        for chunk_id, found in zip(ids, counts):
            length = sum(found.values())
            for term, tf in found.items():
                copy.write_row((term, chunk_id, tf, length))
    df: Counter[str] = Counter()
    for found in counts:
        df.update(found.keys())
    _change_df(conn, df, 1)
    conn.execute("UPDATE bm25_stats SET chunks = chunks + %s, tokens = tokens + %s",
                 (len(ids), sum(sum(c.values()) for c in counts)))


def remove_postings(conn: psycopg.Connection, ids: Sequence[int]) -> None:
    """Take chunks ``ids`` (still stored) out of the statistics; their postings go with the chunk rows."""
    if not ids:
        return
    rows = conn.execute("SELECT term, count(*) FROM chunk_terms WHERE chunk_id = ANY(%s) GROUP BY term",
                        (list(ids),)).fetchall()
    _change_df(conn, Counter(dict(rows)), -1)
    conn.execute("DELETE FROM term_stats WHERE df <= 0 AND term = ANY(%s)", ([t for t, _ in rows],))
    n, tokens = conn.execute("SELECT count(*), coalesce(sum(length), 0) FROM chunks WHERE id = ANY(%s)",
                             (list(ids),)).fetchone()
    conn.execute("UPDATE bm25_stats SET chunks = chunks - %s, tokens = tokens - %s", (n, tokens))


def _change_df(conn: psycopg.Connection, df: Counter[str], sign: int) -> None:
    terms = sorted(df)  # one order for every writer
    conn.execute(
        "INSERT INTO term_stats(term, df) SELECT * FROM unnest(%s::text[], %s::int[]) "
        "ON CONFLICT (term) DO UPDATE SET df = term_stats.df + excluded.df",
        (terms, [sign * df[t] for t in terms]),
    )


# Per query term (repeats kept, as the embedded index scores a repeated term twice): FTS5's idf,
# log((N - n + 0.5) / (n + 0.5)), or 1e-6 when that is not positive; then per posting
# idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen)), summed per chunk. All in float8, in the
# embedded backend's order of operations (numeric arithmetic was ~10x slower).
BM25_SQL = f"""
WITH corpus AS (SELECT chunks::float8 AS n, tokens::float8 / greatest(chunks, 1) AS avglen FROM bm25_stats),
q AS (
    SELECT s.term, CASE WHEN l.idf > 0 THEN l.idf ELSE 1e-6::float8 END AS idf
    FROM unnest(%s::text[]) AS w(term) JOIN term_stats s ON s.term = w.term CROSS JOIN corpus
    CROSS JOIN LATERAL (SELECT ln((corpus.n - s.df + 0.5::float8) / (s.df + 0.5::float8)) AS idf) l
)
SELECT p.chunk_id, sum(q.idf * p.tf * {K1 + 1.0}::float8 / (p.tf + {K1}::float8 * ({1.0 - B}::float8
                                                            + {B}::float8 * p.length / corpus.avglen))) AS score
FROM q JOIN chunk_terms p ON p.term = q.term {{join}} CROSS JOIN corpus
WHERE {{clause}}
GROUP BY p.chunk_id
ORDER BY score DESC, p.chunk_id
LIMIT %s
"""
