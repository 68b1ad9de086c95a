"""SQLite (WAL) store: memos, tags, sentences and chunks with offsets and embeddings, cached briefs.

SQLite is the source of truth; the FAISS index is rebuilt from the embeddings here when needed.
"""
from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from models.nlp import Entity
from service.bm25 import Bm25Index, query_terms
from service.chunking import Chunk, Span
from service.entities import SCHEMA as ENTITY_SCHEMA
from service.entities import entity_clauses, write_entities
from service.ingest import MemoDraft

SCHEMA_VERSION = 1
# term document frequencies kept (term_frequencies) before the cache starts over
_MAX_CACHED_TERMS = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memos (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    date TEXT,
    type TEXT,
    source TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    body_start INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memos_date ON memos(date);
CREATE TABLE IF NOT EXISTS memo_tags (
    memo_id TEXT NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (memo_id, tag)
);
CREATE INDEX IF NOT EXISTS memo_tags_tag ON memo_tags(tag);
CREATE TABLE IF NOT EXISTS sentences (
    memo_id TEXT NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (memo_id, idx)
);
-- AUTOINCREMENT: a deleted chunk's id is never reused, so a stale vector can never point at new text.
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    memo_id TEXT NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL,
    last_sentence INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_memo ON chunks(memo_id);
-- BM25 over chunk text (rowid = chunk id), written in the same transactions as the chunks.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(body, tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TABLE IF NOT EXISTS briefs (
    content_hash TEXT NOT NULL,
    method TEXT NOT NULL,
    max_sentences INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (content_hash, method, max_sentences)
);
"""


@dataclass(frozen=True)
class MemoInfo:
    """A memo's metadata (what lists show)."""

    id: str
    title: str
    date: str | None
    type: str | None
    source: str | None
    tags: tuple[str, ...]
    content_hash: str
    chars: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Memo(MemoInfo):
    """A memo with its text; every offset the service returns indexes into ``text``."""

    text: str = ""
    body_start: int = 0


@dataclass(frozen=True)
class StoredChunk:
    id: int
    memo_id: str
    start: int
    end: int
    first: int
    last: int


@dataclass(frozen=True)
class PreparedMemo:
    """A memo cut into sentences and chunks, with their embeddings: everything one store write needs."""

    draft: MemoDraft
    sentences: list[Span]
    sentence_vectors: np.ndarray
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    entities: tuple[Entity, ...] = ()
    entity_extractor: str | None = None  # None: entities not extracted yet (the start-up backfill will)


@dataclass(frozen=True)
class MemoFilter:
    """Which memos a search or list may see. Empty fields do not filter."""

    memo_ids: tuple[str, ...] | None = None
    date_from: str | None = None
    date_to: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    type: str | None = None
    entities: tuple[str, ...] = field(default_factory=tuple)  # all of them, case-insensitive whole words

    def is_empty(self) -> bool:
        return self.memo_ids is None and not (self.date_from or self.date_to or self.tags or self.type or self.entities)

    def where(self) -> tuple[str, list[object]]:
        """SQL condition on table alias ``m`` and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.memo_ids is not None:
            clauses.append(f"m.id IN ({','.join('?' * len(self.memo_ids))})" if self.memo_ids else "0")
            params.extend(self.memo_ids)
        if self.date_from:
            clauses.append("m.date >= ?")
            params.append(self.date_from)
        if self.date_to:
            clauses.append("m.date <= ?")
            params.append(self.date_to)
        if self.type:
            clauses.append("m.type = ?")
            params.append(self.type.lower())
        if self.tags:
            marks = ",".join("?" * len(self.tags))
            clauses.append(f"EXISTS (SELECT 1 FROM memo_tags t WHERE t.memo_id = m.id AND t.tag IN ({marks}))")
            params.extend(t.lower() for t in self.tags)
        entity_sql, entity_params = entity_clauses(self.entities)
        clauses.extend(entity_sql)
        params.extend(entity_params)
        return (" AND ".join(clauses) or "1"), params


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def _vectors(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1).copy()


log = logging.getLogger(__name__)

_INFO_COLUMNS = "m.id, m.title, m.date, m.type, m.source, m.content_hash, length(m.text), m.created_at, m.updated_at"


class Store:
    """One SQLite file; a connection per thread; writes are serialised by the caller's lock."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path = Path(path)
        self.dimension = dimension
        self._local = threading.local()
        self._frequencies: tuple[int, int, dict[str, int]] = (-1, 0, {})  # generation, chunks, term -> chunks
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._bm25 = Bm25Index()
        self._bm25_filler: threading.Thread | None = None
        self._bm25_starting = threading.Lock()  # one filler, however many threads search first
        self._bm25_reading = threading.Lock()  # close() waits for the filler's read, never its build
        self._closed = False
        conn = self._conn()
        conn.executescript(_SCHEMA + ENTITY_SCHEMA)
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: schema version {version}, this service reads {SCHEMA_VERSION}")
        if self.get_meta("fts") != "1":
            self._fill_fts()

    def _fill_fts(self) -> None:
        """Index the text of every chunk for BM25 (stores written before the lexical index existed)."""
        with self._write() as conn:
            conn.execute("DELETE FROM chunks_fts")
            conn.execute(
                "INSERT INTO chunks_fts(rowid, body) SELECT c.id, substr(m.text, c.start + 1, c.end - c.start) "
                "FROM chunks c JOIN memos m ON m.id = c.memo_id"
            )
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('fts', '1')")

    def start_bm25(self) -> None:
        """Fill the in-memory BM25 copy of ``chunks_fts`` (``service.bm25``) in a background thread, once;
        ``lexical_search`` asks FTS5 until it is ready (~5 s at 43,000 chunks). The server starts it at
        start-up, other users at their first search."""
        with self._bm25_starting:
            if self._bm25_filler is not None:
                return
            self._bm25_filler = threading.Thread(target=self._fill_bm25, name="bm25-fill", daemon=True)
        self._bm25_filler.start()

    def _fill_bm25(self) -> None:
        try:
            with self._bm25_reading:
                if self._closed:
                    return
                conn = self._conn()
                with self.snapshot():
                    rows = conn.execute("SELECT rowid, body FROM chunks_fts").fetchall()
            self._bm25.build(rows)
        except Exception:  # searches stay on FTS5, which is always right; say why
            log.exception("filling the in-memory BM25 failed: BM25 stays on SQLite FTS5")

    def _follow_bm25(self, removed: list[int], added: list[int], memo: PreparedMemo | None) -> None:
        """After a write's commit: the same change to the in-memory BM25, once its filling has begun (the
        filler's snapshot holds every write committed before it)."""
        if self._bm25_filler is None:
            return
        self._bm25.remove(removed)
        if memo is not None:
            self._bm25.add((i, memo.draft.text[c.start : c.end]) for i, c in zip(added, memo.chunks))

    def bm25_ready(self) -> bool:
        return self._bm25.ready.is_set()

    # -- connections ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged memo survives power loss, not just a process crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _write(self) -> "_Transaction":
        return _Transaction(self._conn())

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state of the store (a WAL read transaction). No writes inside."""
        conn = self._conn()
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, for modules that keep their own tables here (reads)."""
        return self._conn()

    def transaction(self) -> "_Transaction":
        """``with store.transaction() as conn:`` one write transaction; callers serialise writes."""
        return self._write()

    def close(self) -> None:
        with self._bm25_reading:
            self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """Bumped by every change to chunks; the index header records the generation it reflects."""
        return int(self.get_meta("generation") or 0)

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # -- writes --------------------------------------------------------------------------------

    def _insert_parts(self, conn: sqlite3.Connection, memo_id: str, memo: PreparedMemo) -> list[int]:
        conn.executemany(
            "INSERT INTO memo_tags(memo_id, tag) VALUES (?, ?)", [(memo_id, t) for t in memo.draft.tags]
        )
        conn.executemany(
            "INSERT INTO sentences(memo_id, idx, start, end, embedding) VALUES (?, ?, ?, ?, ?)",
            [(memo_id, i, s, e, _blob(v)) for i, ((s, e), v) in enumerate(zip(memo.sentences, memo.sentence_vectors))],
        )
        ids = []
        for chunk, vector in zip(memo.chunks, memo.chunk_vectors):
            cur = conn.execute(
                "INSERT INTO chunks(memo_id, start, end, first_sentence, last_sentence, embedding) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (memo_id, chunk.start, chunk.end, chunk.first, chunk.last, _blob(vector)),
            )
            ids.append(int(cur.lastrowid))
        conn.executemany(
            "INSERT INTO chunks_fts(rowid, body) VALUES (?, ?)",
            [(i, memo.draft.text[c.start : c.end]) for i, c in zip(ids, memo.chunks)],
        )
        if memo.entity_extractor is not None:
            write_entities(conn, memo_id, memo.entities, memo.entity_extractor, memo.draft.content_hash)
        self._bump(conn)
        return ids

    def add_memo(self, memo_id: str, memo: PreparedMemo) -> list[int]:
        """Store a memo and its parts in one transaction; returns the new chunk ids."""
        now, draft = _now(), memo.draft
        with self._write() as conn:
            conn.execute(
                "INSERT INTO memos(id, title, date, type, source, text, content_hash, body_start, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (memo_id, draft.title, draft.date, draft.type, draft.source, draft.text, draft.content_hash,
                 draft.body_start, now, now),
            )
            ids = self._insert_parts(conn, memo_id, memo)
        self._follow_bm25([], ids, memo)
        return ids

    def replace_memo(self, memo_id: str, memo: PreparedMemo) -> tuple[list[int], list[int]] | None:
        """Swap a memo's text and parts in one transaction; returns (removed, added) chunk ids,
        or None (and changes nothing) when there is no such memo."""
        draft = memo.draft
        with self._write() as conn:
            old = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE memo_id = ?", (memo_id,))]
            conn.execute("DELETE FROM briefs WHERE content_hash IN (SELECT content_hash FROM memos WHERE id = ?)", (memo_id,))
            cur = conn.execute(
                "UPDATE memos SET title=?, date=?, type=?, source=?, text=?, content_hash=?, body_start=?, updated_at=?"
                " WHERE id = ?",
                (draft.title, draft.date, draft.type, draft.source, draft.text, draft.content_hash,
                 draft.body_start, _now(), memo_id),
            )
            if cur.rowcount == 0:
                return None
            conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE memo_id = ?)", (memo_id,))
            for table in ("chunks", "sentences", "memo_tags", "entities", "entity_runs"):
                conn.execute(f"DELETE FROM {table} WHERE memo_id = ?", (memo_id,))
            new = self._insert_parts(conn, memo_id, memo)
        self._follow_bm25(old, new, memo)
        return old, new

    def delete_memo(self, memo_id: str) -> list[int] | None:
        """Remove a memo and everything hanging off it; returns its chunk ids, or None if unknown."""
        with self._write() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE memo_id = ?", (memo_id,))]
            conn.execute("DELETE FROM briefs WHERE content_hash IN (SELECT content_hash FROM memos WHERE id = ?)", (memo_id,))
            conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE memo_id = ?)", (memo_id,))
            cur = conn.execute("DELETE FROM memos WHERE id = ?", (memo_id,))
            if cur.rowcount == 0:
                return None
            self._bump(conn)
        self._follow_bm25(ids, [], None)
        return ids

    # -- reads ---------------------------------------------------------------------------------

    def _tags(self, memo_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {m: [] for m in memo_ids}
        if memo_ids:
            rows = self._conn().execute(
                f"SELECT memo_id, tag FROM memo_tags WHERE memo_id IN ({','.join('?' * len(memo_ids))})"
                " ORDER BY rowid",
                list(memo_ids),
            )
            for memo_id, tag in rows:
                out[memo_id].append(tag)
        return {m: tuple(t) for m, t in out.items()}

    def _memo_where(self, clause: str, params: Sequence[object]) -> Memo | None:
        row = self._conn().execute(
            f"SELECT {_INFO_COLUMNS}, m.text, m.body_start FROM memos m WHERE {clause}", params
        ).fetchone()
        if row is None:
            return None
        tags = self._tags([row[0]])[row[0]]
        return Memo(*row[:5], tags, *row[5:9], text=row[9], body_start=row[10])

    def get_memo(self, memo_id: str) -> Memo | None:
        return self._memo_where("m.id = ?", (memo_id,))

    def find_by_hash(self, digest: str) -> Memo | None:
        return self._memo_where("m.content_hash = ?", (digest,))

    def get_memos(self, memo_ids: Sequence[str]) -> dict[str, MemoInfo]:
        """Metadata of several memos (missing ids are absent from the result)."""
        if not memo_ids:
            return {}
        ids = list(dict.fromkeys(memo_ids))
        rows = self._conn().execute(
            f"SELECT {_INFO_COLUMNS} FROM memos m WHERE m.id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
        tags = self._tags([r[0] for r in rows])
        return {r[0]: MemoInfo(*r[:5], tags[r[0]], *r[5:]) for r in rows}

    def memo_text(self, memo_id: str) -> str | None:
        row = self._conn().execute("SELECT text FROM memos WHERE id = ?", (memo_id,)).fetchone()
        return row[0] if row else None

    def list_memos(self, where: MemoFilter, limit: int, offset: int) -> tuple[list[MemoInfo], int]:
        """A page of memos, newest date first (undated last), and the total that match."""
        clause, params = where.where()
        conn = self._conn()
        total = conn.execute(f"SELECT count(*) FROM memos m WHERE {clause}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT {_INFO_COLUMNS} FROM memos m WHERE {clause} "
            "ORDER BY m.date IS NULL, m.date DESC, m.created_at DESC, m.id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        tags = self._tags([r[0] for r in rows])
        return [MemoInfo(*r[:5], tags[r[0]], *r[5:]) for r in rows], total

    def chunk_ids(self, where: MemoFilter) -> np.ndarray:
        """Ids of the chunks of the memos that pass ``where``."""
        clause, params = where.where()
        rows = self._conn().execute(
            f"SELECT c.id FROM chunks c JOIN memos m ON m.id = c.memo_id WHERE {clause}", params
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def lexical_search(self, words: Sequence[str], k: int, where: MemoFilter,
                       allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, BM25 score) for any of ``words``, best first: from the in-memory copy once
        it is filled (FTS5's scores, a fraction of the time), else from FTS5 itself. ``allowed``: the chunk
        ids ``where`` admits, when the caller has them already (``chunk_ids(where)`` otherwise)."""
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            return []
        if not self._bm25.ready.is_set():
            self.start_bm25()
        terms = query_terms(words) if self._bm25.ready.is_set() else None
        if terms is None:
            return self.fts_search(words, k, where)
        if allowed is None and not where.is_empty():
            allowed = self.chunk_ids(where)
        return self._bm25.search(terms, k, allowed)

    def fts_search(self, words: Sequence[str], k: int, where: MemoFilter) -> list[tuple[int, float]]:
        """``lexical_search`` by SQLite FTS5 (which stems the words); each word is a phrase."""
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        sql = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
        params: list[object] = [match]
        if not where.is_empty():
            clause, extra = where.where()
            sql += f" AND rowid IN (SELECT c.id FROM chunks c JOIN memos m ON m.id = c.memo_id WHERE {clause})"
            params.extend(extra)
        rows = self._conn().execute(sql + " ORDER BY bm25(chunks_fts) LIMIT ?", [*params, k]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def wait_for_bm25(self, timeout: float | None = None) -> bool:
        """Start filling the in-memory BM25 if nothing has, and wait until it is ready."""
        self.start_bm25()
        return self._bm25.ready.wait(timeout)

    def term_frequencies(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The number of chunks, and how many of them hold each (Porter-stemmed) term: from the in-memory
        BM25 once it is filled (FTS5's counts, no SQL), else from FTS5's vocabulary, kept per store
        generation (looking a term up there walks its whole posting list: ~0.1 ms for a common word at
        40k chunks)."""
        if self._bm25.ready.is_set():
            return self._bm25.frequencies(stems)
        return self.fts_frequencies(stems)

    def fts_frequencies(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        """``term_frequencies`` from FTS5's vocabulary."""
        stems = list(dict.fromkeys(stems))
        with self.snapshot():
            conn = self._conn()
            generation = self.generation()
            cached, total, frequencies = self._frequencies
            if cached != generation or len(frequencies) > _MAX_CACHED_TERMS:
                total = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
                frequencies = {}
                # Entries carry the generation they were read at: a reader on an older snapshot may swap
                # in its own dict, but never serves or stores counts of another generation.
                self._frequencies = (generation, total, frequencies)
            missing = [t for t in stems if t not in frequencies]
            if missing:
                rows = conn.execute(
                    f"SELECT term, doc FROM chunks_vocab WHERE term IN ({','.join('?' * len(missing))})", missing
                ).fetchall()
                found = dict(rows)
                frequencies.update((t, found.get(t, 0)) for t in missing)
        return total, {t: frequencies[t] for t in stems}

    def term_weights(self, stems: Sequence[str]) -> dict[str, float]:
        """BM25-style inverse document frequency over chunks of each (Porter-stemmed) term; a term no chunk
        contains gets the highest weight."""
        total, df = self.term_frequencies(stems)
        return {t: math.log((total - n + 0.5) / (n + 0.5) + 1.0) for t, n in df.items()}

    def chunk_vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored embeddings of some chunks."""
        if not ids:
            return {}
        rows = self._conn().execute(
            f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(ids))})", [int(i) for i in ids]
        ).fetchall()
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def get_chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        rows = self._conn().execute(
            "SELECT id, memo_id, start, end, first_sentence, last_sentence FROM chunks "
            f"WHERE id IN ({','.join('?' * len(ids))})",
            [int(i) for i in ids],
        ).fetchall()
        return {r[0]: StoredChunk(*r) for r in rows}

    def sentences(self, memo_id: str, first: int = 0, last: int | None = None) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """Sentences ``first..last`` (inclusive) of a memo as ``(idx, start, end)`` and their embeddings."""
        last = (1 << 62) if last is None else last
        rows = self._conn().execute(
            "SELECT idx, start, end, embedding FROM sentences WHERE memo_id = ? AND idx BETWEEN ? AND ? ORDER BY idx",
            (memo_id, first, last),
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows], _vectors([r[3] for r in rows], self.dimension)

    def iter_chunk_vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All chunk ids and embeddings, in id order, a batch at a time (for index rebuilds)."""
        last = -1
        conn = self._conn()
        while True:
            rows = conn.execute(
                "SELECT id, embedding FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield np.array([r[0] for r in rows], dtype=np.int64), _vectors([r[1] for r in rows], self.dimension)

    def chunk_id_array(self) -> np.ndarray:
        """Every chunk id, ascending (to check an index holds exactly the store's chunks)."""
        rows = self._conn().execute("SELECT id FROM chunks ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def counts(self) -> dict[str, int]:
        conn = self._conn()
        return {
            "memos": conn.execute("SELECT count(*) FROM memos").fetchone()[0],
            "chunks": conn.execute("SELECT count(*) FROM chunks").fetchone()[0],
            "sentences": conn.execute("SELECT count(*) FROM sentences").fetchone()[0],
        }

    # -- brief cache ---------------------------------------------------------------------------

    def get_brief(self, digest: str, method: str, max_sentences: int) -> dict | None:
        row = self._conn().execute(
            "SELECT body FROM briefs WHERE content_hash = ? AND method = ? AND max_sentences = ?",
            (digest, method, max_sentences),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def next_memo_without_brief(self, method: str, max_sentences: int, skip: set[str]) -> str | None:
        """The oldest memo with no cached brief of ``method`` for its current text (ids in ``skip`` aside)."""
        marks = ",".join("?" * len(skip))
        rows = self._conn().execute(
            "SELECT m.id FROM memos m WHERE NOT EXISTS (SELECT 1 FROM briefs b WHERE b.content_hash = m.content_hash "
            f"AND b.method = ? AND b.max_sentences = ?) {f'AND m.id NOT IN ({marks})' if skip else ''} "
            "ORDER BY m.created_at, m.id LIMIT 1",
            [method, max_sentences, *skip],
        ).fetchone()
        return rows[0] if rows else None

    def put_brief(self, digest: str, method: str, max_sentences: int, body: dict) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO briefs(content_hash, method, max_sentences, body) VALUES (?, ?, ?, ?)",
                (digest, method, max_sentences, json.dumps(body)),
            )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on a connection in autocommit mode."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
