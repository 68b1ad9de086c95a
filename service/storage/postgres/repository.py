"""``MemoRepository`` in PostgreSQL: a memo and its tags, sentences, chunks (with vectors and BM25 postings)
and entities in one transaction; the content hash is unique, so racing writers of one text make one memo."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import psycopg

from service.errors import Conflict, NotFound
from service.storage.postgres.database import Database
from service.storage.postgres.entity_tables import entity_facets, write_entities
from service.storage.postgres.filters import filter_sql
from service.storage.shared import utc_now
from service.storage.postgres.postings import add_postings, count_terms, lock_stats, remove_postings
from service.types import Count, Facets, Memo, MemoFilter, MemoInfo, PreparedMemo, SentenceRows

_INFO_COLUMNS = ("m.id, m.title, m.date, m.type, m.source, "
                 "ARRAY(SELECT t.tag FROM memo_tags t WHERE t.memo_id = m.id ORDER BY t.pos), "
                 "m.content_hash, length(m.text), m.created_at, m.updated_at")
_MEMO_COLUMNS = ("id, title, date, type, source, text, content_hash, body_start, created_at, updated_at")


def _info(row: tuple) -> MemoInfo:
    return MemoInfo(*row[:5], tuple(row[5]), *row[6:10])


def as_array(value: object) -> np.ndarray:
    """A pgvector value (a ``Vector`` in binary transfers, an array in text ones) as float32."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


def as_vectors(rows: Sequence[object], dimension: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.stack([as_array(r) for r in rows])


def insert_parts(conn: psycopg.Connection, memo_id: str, memo: PreparedMemo) -> list[int]:
    """A memo's tags, sentences, chunks, postings and entities, inside the caller's transaction (which
    holds the BM25 statistics lock); the new chunk ids, in chunk order."""
    draft = memo.draft
    if draft.tags:
        conn.cursor().executemany("INSERT INTO memo_tags(memo_id, pos, tag) VALUES (%s, %s, %s)",
                                  [(memo_id, i, t) for i, t in enumerate(draft.tags)])
    if memo.sentences:
        conn.cursor().executemany(
            'INSERT INTO sentences(memo_id, idx, start, "end", embedding) VALUES (%s, %s, %s, %s, %s)',
            [(memo_id, i, s, e, np.asarray(v, dtype=np.float32))
             for i, ((s, e), v) in enumerate(zip(memo.sentences, memo.sentence_vectors))])
    ids: list[int] = []
    if memo.chunks:
        ids = [r[0] for r in conn.execute("SELECT nextval(pg_get_serial_sequence('chunks', 'id')) "
                                          "FROM generate_series(1, %s) ORDER BY 1", (len(memo.chunks),))]
        counts = [count_terms(draft.text[c.start : c.end]) for c in memo.chunks]
        conn.cursor().executemany(
            'INSERT INTO chunks(id, memo_id, start, "end", first_sentence, last_sentence, length, embedding) '
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(i, memo_id, c.start, c.end, c.first, c.last, sum(n.values()), np.asarray(v, dtype=np.float32))
             for i, c, n, v in zip(ids, memo.chunks, counts, memo.chunk_vectors)])
        add_postings(conn, ids, counts)
    if memo.entity_extractor is not None:
        write_entities(conn, memo_id, memo.entities, memo.entity_extractor, draft.content_hash)
    return ids


class PgMemos:
    def __init__(self, db: Database, dimension: int) -> None:
        self._db = db
        self._dimension = dimension

    # -- writes --------------------------------------------------------------------------------------

    def add(self, memo_id: str, memo: PreparedMemo) -> tuple[Memo, bool]:
        draft = memo.draft
        for _ in range(3):
            now = utc_now()
            with self._db.write() as conn:
                lock_stats(conn)
                # ON CONFLICT waits for a writer of the same text still in flight, then yields to it
                inserted = conn.execute(
                    f"INSERT INTO memos({_MEMO_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (content_hash) DO NOTHING RETURNING id",
                    (memo_id, draft.title, draft.date, draft.type, draft.source, draft.text, draft.content_hash,
                     draft.body_start, now, now),
                ).fetchone()
                if inserted is not None:
                    insert_parts(conn, memo_id, memo)
            if inserted is not None:  # committed: only now is the memo acknowledged
                return Memo(memo_id, draft.title, draft.date, draft.type, draft.source, tuple(draft.tags),
                            draft.content_hash, len(draft.text), now, now, text=draft.text,
                            body_start=draft.body_start), True
            existing = self.find_by_hash(draft.content_hash)
            if existing is not None:
                return existing, False
            # the memo holding this text was deleted in between: try to store ours again
        raise Conflict({"text": ["this text is being stored and deleted concurrently; try again"]})

    def replace(self, memo_id: str, memo: PreparedMemo) -> Memo:
        draft = memo.draft
        clash = self.find_by_hash(draft.content_hash)
        if clash is not None and clash.id != memo_id:
            raise Conflict({"text": [f"this text is already stored as memo {clash.id}"]})
        try:
            with self._db.write() as conn:
                lock_stats(conn)
                old = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE memo_id = %s", (memo_id,))]
                conn.execute("DELETE FROM briefs WHERE content_hash IN (SELECT content_hash FROM memos WHERE id = %s)",
                             (memo_id,))
                cur = conn.execute(
                    "UPDATE memos SET title=%s, date=%s, type=%s, source=%s, text=%s, content_hash=%s, body_start=%s, "
                    "updated_at=%s WHERE id = %s",
                    (draft.title, draft.date, draft.type, draft.source, draft.text, draft.content_hash,
                     draft.body_start, utc_now(), memo_id),
                )
                if cur.rowcount == 0:  # deleted while the new text was being embedded
                    raise NotFound(f"no memo {memo_id}")
                remove_postings(conn, old)
                for table in ("chunks", "sentences", "memo_tags", "entities", "entity_runs"):
                    conn.execute(f"DELETE FROM {table} WHERE memo_id = %s", (memo_id,))
                insert_parts(conn, memo_id, memo)
        except psycopg.errors.UniqueViolation:
            raise Conflict({"text": ["this text is already stored as another memo"]}) from None
        stored = self.get(memo_id)
        if stored is None:
            raise NotFound(f"no memo {memo_id}")
        return stored

    def delete(self, memo_id: str) -> bool:
        with self._db.write() as conn:
            lock_stats(conn)
            ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE memo_id = %s", (memo_id,))]
            remove_postings(conn, ids)
            conn.execute("DELETE FROM briefs WHERE content_hash IN (SELECT content_hash FROM memos WHERE id = %s)",
                         (memo_id,))
            # chunks, postings, sentences, tags and entities go with it (ON DELETE CASCADE)
            return conn.execute("DELETE FROM memos WHERE id = %s", (memo_id,)).rowcount > 0

    # -- reads ---------------------------------------------------------------------------------------

    def _memo_where(self, clause: str, params: Sequence[object]) -> Memo | None:
        row = self._db.one(f"SELECT {_INFO_COLUMNS}, m.text, m.body_start FROM memos m WHERE {clause}", params)
        if row is None:
            return None
        return Memo(*row[:5], tuple(row[5]), *row[6:10], text=row[10], body_start=row[11])

    def get(self, memo_id: str) -> Memo | None:
        return self._memo_where("m.id = %s", (memo_id,))

    def find_by_hash(self, content_hash: str) -> Memo | None:
        return self._memo_where("m.content_hash = %s", (content_hash,))

    def infos(self, memo_ids: Sequence[str]) -> dict[str, MemoInfo]:
        if not memo_ids:
            return {}
        rows = self._db.all(f"SELECT {_INFO_COLUMNS} FROM memos m WHERE m.id = ANY(%s)", (list(set(memo_ids)),))
        return {r[0]: _info(r) for r in rows}

    def text(self, memo_id: str) -> str | None:
        row = self._db.one("SELECT text FROM memos WHERE id = %s", (memo_id,))
        return row[0] if row else None

    def page(self, where: MemoFilter, limit: int, offset: int) -> tuple[list[MemoInfo], int]:
        clause, params = filter_sql(where)
        with self._db.read() as conn:
            total = conn.execute(f"SELECT count(*) FROM memos m WHERE {clause}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_INFO_COLUMNS} FROM memos m WHERE {clause} "
                "ORDER BY m.date IS NULL, m.date DESC, m.created_at DESC, m.id LIMIT %s OFFSET %s",
                [*params, limit, offset],
            ).fetchall()
        return [_info(r) for r in rows], total

    def sentences(self, memo_id: str, first: int = 0, last: int | None = None) -> SentenceRows:
        last = (1 << 31) - 1 if last is None else min(last, (1 << 31) - 1)
        rows = self._db.all('SELECT idx, start, "end", embedding FROM sentences WHERE memo_id = %s '
                            "AND idx BETWEEN %s AND %s ORDER BY idx", (memo_id, first, last), binary=True)
        return SentenceRows([(r[0], r[1], r[2]) for r in rows], as_vectors([r[3] for r in rows], self._dimension))

    def unembedded(self, limit: int) -> list[str]:
        rows = self._db.all("SELECT DISTINCT memo_id FROM sentences WHERE vector_norm(embedding) = 0 LIMIT %s",
                            (limit,))
        return [r[0] for r in rows]

    def fill_sentences(self, memo_id: str, content_hash: str, rows: Sequence[tuple[int, int, int, np.ndarray]]
                       ) -> int:
        with self._db.write() as conn:
            # The memo's row stays locked until commit: a replace waits for these updates, not the reverse.
            if conn.execute("SELECT 1 FROM memos WHERE id = %s AND content_hash = %s FOR UPDATE",
                            (memo_id, content_hash)).fetchone() is None:
                return 0
            return sum(conn.execute(
                'UPDATE sentences SET embedding = %s WHERE memo_id = %s AND idx = %s AND start = %s AND "end" = %s '
                "AND vector_norm(embedding) = 0", (np.asarray(v, dtype=np.float32), memo_id, i, s, e)).rowcount
                for i, s, e, v in rows)

    def facets(self, where: MemoFilter, entity_limit: int) -> Facets:
        clause, params = filter_sql(where)
        with self._db.read() as conn:

            def counts(sql: str) -> tuple[Count, ...]:
                return tuple(Count(value, n) for value, n in conn.execute(sql, params))

            total = conn.execute(f"SELECT count(*) FROM memos m WHERE {clause}", params).fetchone()[0]
            types = counts(f"SELECT m.type, count(*) AS n FROM memos m WHERE {clause} AND m.type IS NOT NULL "
                           "GROUP BY m.type ORDER BY n DESC, m.type")
            years = counts(f"SELECT substr(m.date, 1, 4) AS y, count(*) FROM memos m WHERE {clause} "
                           "GROUP BY y ORDER BY substr(m.date, 1, 4) IS NULL, y DESC")
            tags = counts(f"SELECT t.tag, count(*) AS n FROM memo_tags t JOIN memos m ON m.id = t.memo_id "
                          f"WHERE {clause} GROUP BY t.tag ORDER BY n DESC, t.tag")
            entities = entity_facets(conn, where, entity_limit)
        return Facets(total, types, years, tags, tuple(entities))
