-- Schema 1: memos and their parts, BM25 postings and statistics, entities, briefs, jobs.
-- {dimension} is the embedder's dimension, filled in when the schema is first created.
-- COLLATE "C": text sorts by code point, as SQLite's BINARY does, so both backends order alike.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE memos (
    id TEXT COLLATE "C" PRIMARY KEY,
    title TEXT NOT NULL,
    date TEXT COLLATE "C",
    type TEXT COLLATE "C",
    source TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    body_start INTEGER NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX memos_date ON memos(date);
CREATE INDEX memos_created ON memos(created_at, id);
CREATE TABLE memo_tags (
    memo_id TEXT COLLATE "C" NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    pos INTEGER NOT NULL,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (memo_id, tag)
);
CREATE INDEX memo_tags_tag ON memo_tags(tag);
CREATE TABLE sentences (
    memo_id TEXT COLLATE "C" NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    embedding vector({dimension}) NOT NULL,
    PRIMARY KEY (memo_id, idx)
);
-- A sequence never hands out an id twice: a stale search result can never point at another memo's text.
CREATE TABLE chunks (
    id BIGSERIAL PRIMARY KEY,
    memo_id TEXT COLLATE "C" NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL,
    last_sentence INTEGER NOT NULL,
    length INTEGER NOT NULL,  -- BM25 document length: how many terms the chunk's text has
    embedding vector({dimension}) NOT NULL
);
CREATE INDEX chunks_memo ON chunks(memo_id);
-- vectors are unit length: inner product is cosine
CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_ip_ops);
-- BM25 postings: written in the memo's transaction, as FTS5's are in the embedded backend. The chunk's
-- length is repeated here so that an unfiltered search reads postings alone.
CREATE TABLE chunk_terms (
    term TEXT COLLATE "C" NOT NULL,
    chunk_id BIGINT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    tf INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (term, chunk_id)
);
CREATE INDEX chunk_terms_chunk ON chunk_terms(chunk_id);
-- how many chunks hold each term
CREATE TABLE term_stats (term TEXT COLLATE "C" PRIMARY KEY, df INTEGER NOT NULL);
-- one row: how many chunks and terms there are; every write that touches chunks locks it first, which
-- also orders those writes so that they cannot deadlock on term_stats
CREATE TABLE bm25_stats (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), chunks BIGINT NOT NULL,
                         tokens BIGINT NOT NULL);
INSERT INTO bm25_stats(one, chunks, tokens) VALUES (TRUE, 0, 0);
CREATE TABLE briefs (
    content_hash TEXT NOT NULL,
    method TEXT NOT NULL,
    max_sentences INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (content_hash, method, max_sentences)
);
CREATE TABLE entities (
    memo_id TEXT COLLATE "C" NOT NULL REFERENCES memos(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    label TEXT COLLATE "C" NOT NULL,
    text TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (memo_id, start)
);
CREATE INDEX entities_key ON entities(key);
CREATE TABLE entity_runs (
    memo_id TEXT COLLATE "C" PRIMARY KEY REFERENCES memos(id) ON DELETE CASCADE,
    extractor TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE TABLE jobs (
    id TEXT COLLATE "C" PRIMARY KEY,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE job_items (
    job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    text TEXT,
    meta TEXT NOT NULL,
    status TEXT NOT NULL,
    memo_id TEXT,
    error TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX job_items_queued ON job_items(job_id, status);
