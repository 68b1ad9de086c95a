"""``MemoRepository`` in SQLite: a memo and its tags, sentences, chunks (with FTS5 rows) and entities in one
transaction, then the same change to FAISS and the BM25 copy under the backend's write lock."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

from service.errors import Conflict, NotFound
from service.storage.embedded.chunks import blob_of, vectors_of
from service.storage.embedded.database import Database
from service.storage.embedded.entity_tables import entity_facets, write_entities
from service.storage.embedded.filters import filter_sql
from service.storage.embedded.fts import Fts
from service.storage.embedded.vectors.keeper import VectorKeeper
from service.types import Count, Facets, Memo, MemoFilter, MemoInfo, PreparedMemo, SentenceRows

_INFO_COLUMNS = "m.id, m.title, m.date, m.type, m.source, m.content_hash, length(m.text), m.created_at, m.updated_at"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class SqliteMemos:
    def __init__(self, db: Database, fts: Fts, keeper: VectorKeeper, write_lock: threading.Lock,
                 dimension: int) -> None:
        self._db = db
        self._fts = fts
        self._keeper = keeper
        self._write_lock = write_lock
        self._dimension = dimension

    # -- writes --------------------------------------------------------------------------------------

    def _insert_parts(self, conn: sqlite3.Connection, memo_id: str, memo: PreparedMemo) -> list[int]:
        conn.executemany(
            "INSERT INTO memo_tags(memo_id, tag) VALUES (?, ?)", [(memo_id, t) for t in memo.draft.tags]
        )
        conn.executemany(
            "INSERT INTO sentences(memo_id, idx, start, end, embedding) VALUES (?, ?, ?, ?, ?)",
            [(memo_id, i, s, e, blob_of(v)) for i, ((s, e), v) in enumerate(zip(memo.sentences, memo.sentence_vectors))],
        )
        ids = []
        for chunk, vector in zip(memo.chunks, memo.chunk_vectors):
            cur = conn.execute(
                "INSERT INTO chunks(memo_id, start, end, first_sentence, last_sentence, embedding) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (memo_id, chunk.start, chunk.end, chunk.first, chunk.last, blob_of(vector)),
            )
            ids.append(int(cur.lastrowid))
        conn.executemany(
            "INSERT INTO chunks_fts(rowid, body) VALUES (?, ?)",
            [(i, memo.draft.text[c.start : c.end]) for i, c in zip(ids, memo.chunks)],
        )
        if memo.entity_extractor is not None:
            write_entities(conn, memo_id, memo.entities, memo.entity_extractor, memo.draft.content_hash)
        self._db.bump(conn)
        return ids

    def _follow(self, removed: list[int], added: list[int], memo: PreparedMemo | None) -> None:
        """After a commit, under the write lock: the same change to the BM25 copy and FAISS."""
        self._fts.follow(removed, added, memo)
        self._keeper.apply(removed, added, memo.chunk_vectors if memo is not None else None)

    def add(self, memo_id: str, memo: PreparedMemo) -> tuple[Memo, bool]:
        now, draft = _now(), memo.draft
        with self._write_lock:
            # Checked under the lock: two identical POSTs race here, and only one may store.
            existing = self.find_by_hash(draft.content_hash)
            if existing is not None:
                return existing, False
            with self._db.write() as conn:
                conn.execute(
                    "INSERT INTO memos(id, title, date, type, source, text, content_hash, body_start, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (memo_id, draft.title, draft.date, draft.type, draft.source, draft.text, draft.content_hash,
                     draft.body_start, now, now),
                )
                ids = self._insert_parts(conn, memo_id, memo)
            self._follow([], ids, memo)
            # Read under the lock too: a delete right after the commit must not lose the memo we return.
            stored = self.get(memo_id)
        assert stored is not None
        self._keeper.changed()
        return stored, True

    def replace(self, memo_id: str, memo: PreparedMemo) -> Memo:
        draft = memo.draft
        with self._write_lock:
            clash = self.find_by_hash(draft.content_hash)
            if clash is not None and clash.id != memo_id:
                raise Conflict({"text": [f"this text is already stored as memo {clash.id}"]})
            try:
                with self._db.write() as conn:
                    old = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE memo_id = ?", (memo_id,))]
                    conn.execute("DELETE FROM briefs WHERE content_hash IN (SELECT content_hash FROM memos WHERE id = ?)",
                                 (memo_id,))
                    cur = conn.execute(
                        "UPDATE memos SET title=?, date=?, type=?, source=?, text=?, content_hash=?, body_start=?, "
                        "updated_at=? WHERE id = ?",
                        (draft.title, draft.date, draft.type, draft.source, draft.text, draft.content_hash,
                         draft.body_start, _now(), memo_id),
                    )
                    if cur.rowcount == 0:  # deleted while the new text was being embedded
                        raise NotFound(f"no memo {memo_id}")
                    conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE memo_id = ?)",
                                 (memo_id,))
                    for table in ("chunks", "sentences", "memo_tags", "entities", "entity_runs"):
                        conn.execute(f"DELETE FROM {table} WHERE memo_id = ?", (memo_id,))
                    new = self._insert_parts(conn, memo_id, memo)
            except sqlite3.IntegrityError:
                raise Conflict({"text": ["this text is already stored as another memo"]}) from None
            self._follow(old, new, memo)
            stored = self.get(memo_id)
        assert stored is not None
        self._keeper.changed()
        return stored

    def delete(self, memo_id: str) -> bool:
        with self._write_lock:
            with self._db.write() as conn:
                ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE memo_id = ?", (memo_id,))]
                conn.execute("DELETE FROM briefs WHERE content_hash IN (SELECT content_hash FROM memos WHERE id = ?)",
                             (memo_id,))
                conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE memo_id = ?)",
                             (memo_id,))
                if conn.execute("DELETE FROM memos WHERE id = ?", (memo_id,)).rowcount == 0:
                    return False
                self._db.bump(conn)
            self._follow(ids, [], None)
        self._keeper.changed()
        return True

    # -- reads ---------------------------------------------------------------------------------------

    def _tags(self, memo_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {m: [] for m in memo_ids}
        if memo_ids:
            rows = self._db.connection().execute(
                f"SELECT memo_id, tag FROM memo_tags WHERE memo_id IN ({','.join('?' * len(memo_ids))})"
                " ORDER BY rowid",
                list(memo_ids),
            )
            for memo_id, tag in rows:
                out[memo_id].append(tag)
        return {m: tuple(t) for m, t in out.items()}

    def _memo_where(self, clause: str, params: Sequence[object]) -> Memo | None:
        row = self._db.connection().execute(
            f"SELECT {_INFO_COLUMNS}, m.text, m.body_start FROM memos m WHERE {clause}", params
        ).fetchone()
        if row is None:
            return None
        tags = self._tags([row[0]])[row[0]]
        return Memo(*row[:5], tags, *row[5:9], text=row[9], body_start=row[10])

    def get(self, memo_id: str) -> Memo | None:
        return self._memo_where("m.id = ?", (memo_id,))

    def find_by_hash(self, content_hash: str) -> Memo | None:
        return self._memo_where("m.content_hash = ?", (content_hash,))

    def infos(self, memo_ids: Sequence[str]) -> dict[str, MemoInfo]:
        if not memo_ids:
            return {}
        ids = list(dict.fromkeys(memo_ids))
        rows = self._db.connection().execute(
            f"SELECT {_INFO_COLUMNS} FROM memos m WHERE m.id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
        tags = self._tags([r[0] for r in rows])
        return {r[0]: MemoInfo(*r[:5], tags[r[0]], *r[5:]) for r in rows}

    def text(self, memo_id: str) -> str | None:
        row = self._db.connection().execute("SELECT text FROM memos WHERE id = ?", (memo_id,)).fetchone()
        return row[0] if row else None

    def page(self, where: MemoFilter, limit: int, offset: int) -> tuple[list[MemoInfo], int]:
        clause, params = filter_sql(where)
        conn = self._db.connection()
        total = conn.execute(f"SELECT count(*) FROM memos m WHERE {clause}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT {_INFO_COLUMNS} FROM memos m WHERE {clause} "
            "ORDER BY m.date IS NULL, m.date DESC, m.created_at DESC, m.id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        tags = self._tags([r[0] for r in rows])
        return [MemoInfo(*r[:5], tags[r[0]], *r[5:]) for r in rows], total

    def sentences(self, memo_id: str, first: int = 0, last: int | None = None) -> SentenceRows:
        last = (1 << 62) if last is None else last
        rows = self._db.connection().execute(
            "SELECT idx, start, end, embedding FROM sentences WHERE memo_id = ? AND idx BETWEEN ? AND ? ORDER BY idx",
            (memo_id, first, last),
        ).fetchall()
        return SentenceRows([(r[0], r[1], r[2]) for r in rows], vectors_of([r[3] for r in rows], self._dimension))

    def unembedded(self, limit: int) -> list[str]:
        rows = self._db.connection().execute(
            "SELECT DISTINCT memo_id FROM sentences WHERE embedding = zeroblob(?) LIMIT ?", (4 * self._dimension, limit)
        ).fetchall()
        return [r[0] for r in rows]

    def fill_sentences(self, memo_id: str, content_hash: str, rows: Sequence[tuple[int, int, int, np.ndarray]]
                       ) -> int:
        # Sentence vectors are not in FAISS or BM25, so nothing else follows and the generation stays.
        with self._write_lock, self._db.write() as conn:
            if conn.execute("SELECT 1 FROM memos WHERE id = ? AND content_hash = ?",
                            (memo_id, content_hash)).fetchone() is None:
                return 0
            return sum(conn.execute(
                "UPDATE sentences SET embedding = ? WHERE memo_id = ? AND idx = ? AND start = ? AND end = ? "
                "AND embedding = zeroblob(?)", (blob_of(v), memo_id, i, s, e, 4 * self._dimension)).rowcount
                for i, s, e, v in rows)

    def facets(self, where: MemoFilter, entity_limit: int) -> Facets:
        clause, params = filter_sql(where)
        conn = self._db.connection()

        def counts(sql: str) -> tuple[Count, ...]:
            return tuple(Count(value, n) for value, n in conn.execute(sql, params))

        total = conn.execute(f"SELECT count(*) FROM memos m WHERE {clause}", params).fetchone()[0]
        types = counts(f"SELECT m.type, count(*) AS n FROM memos m WHERE {clause} AND m.type IS NOT NULL "
                       "GROUP BY m.type ORDER BY n DESC, m.type")
        years = counts(f"SELECT substr(m.date, 1, 4) AS y, count(*) FROM memos m WHERE {clause} "
                       "GROUP BY y ORDER BY y IS NULL, y DESC")
        tags = counts(f"SELECT t.tag, count(*) AS n FROM memo_tags t JOIN memos m ON m.id = t.memo_id WHERE {clause} "
                      "GROUP BY t.tag ORDER BY n DESC, t.tag")
        return Facets(total, types, years, tags, tuple(entity_facets(conn, where, entity_limit)))
