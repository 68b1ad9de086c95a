"""The SQLite schema (version 2): created on first open, upgraded from older versions (every change so far adds
tables), refused when a data dir holds a newer version."""
from __future__ import annotations

from service.storage.embedded.database import Database
from service.storage.embedded.job_tables import JOB_SCHEMA

SCHEMA_VERSION = 2  # 2: ingest jobs

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS entities (
    memo_id TEXT NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    label TEXT NOT NULL,
    text TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (memo_id, start)
);
-- Which extractor read which text of each memo: memos missing here (older data dirs), read by another
-- model, or changed since (by a version that did not know entities) are read again at start-up.
-- A memo with no entities still has its row here.
CREATE TABLE IF NOT EXISTS entity_runs (
    memo_id TEXT PRIMARY KEY REFERENCES memos(id) ON DELETE CASCADE,
    extractor TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
"""


def create_schema(db: Database) -> None:
    """Create what is missing; refuse (RuntimeError) a file of another schema version; index the text of
    every chunk for BM25 in stores written before the lexical index existed."""
    version = db.get_meta("schema_version") if _has_meta(db) else None
    if version is not None and int(version) > SCHEMA_VERSION:
        raise RuntimeError(f"{db.path}: schema version {version}, this service reads {SCHEMA_VERSION} and older")
    db.connection().executescript(SCHEMA + JOB_SCHEMA)
    if version is None or int(version) < SCHEMA_VERSION:
        db.set_meta("schema_version", str(SCHEMA_VERSION))
    if db.get_meta("fts") != "1":
        with db.write() as conn:
            conn.execute("DELETE FROM chunks_fts")
            conn.execute(
                "INSERT INTO chunks_fts(rowid, body) SELECT c.id, substr(m.text, c.start + 1, c.end - c.start) "
                "FROM chunks c JOIN memos m ON m.id = c.memo_id"
            )
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('fts', '1')")


def _has_meta(db: Database) -> bool:
    return db.connection().execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is not None
