"""Copy an embedded data dir into a PostgreSQL database without embedding anything again: memos with their
sentence and chunk vectors, entities and briefs. Resumable (memos already there by content hash are
skipped) and checked at the end (every copied text has as many chunks, sentences and vectors there)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from service.errors import TransferError
from service.storage.base import VectorSpace
from service.types import Chunk, MemoDraft, PreparedMemo


@dataclass(frozen=True)
class TransferReport:
    memos: int  # memos in the data dir
    copied: int  # stored by this run
    skipped: int  # already in the database (an earlier run, or the same text stored there)
    briefs: int  # cached briefs copied or already there
    counts: dict[str, int]  # the data dir's memos, chunks, sentences, vectors: found again in the database


def stored_space(data_dir: Path) -> VectorSpace:
    """The embedder a data dir's vectors come from (its ``embedder`` mark, ``model/dimension``)."""
    from service.storage.embedded import DB_FILE
    from service.storage.embedded.database import Database
    from service.storage.shared import REEMBEDDING

    if not (Path(data_dir) / DB_FILE).exists():
        raise TransferError(f"{data_dir} holds no memo store ({DB_FILE})")
    db = Database(Path(data_dir) / DB_FILE)
    try:
        mark = db.get_meta("embedder")
    finally:
        db.close()
    if mark is None or mark.startswith(REEMBEDDING):
        raise TransferError(f"{data_dir}: its vectors are not all of one model ({mark!r}); start the service on it "
                            "once to finish re-embedding, then migrate")
    model, _, dimension = mark.rpartition("/")
    return VectorSpace(model, int(dimension))


def _prepared(source: Any, memo_id: str) -> PreparedMemo | None:
    """A stored memo as the write that stored it: its parts and vectors as they are in the data dir."""
    memo = source.memos.get(memo_id)
    if memo is None:
        return None
    sentences = source.memos.sentences(memo_id)
    conn = source.db.connection()
    rows = conn.execute("SELECT start, end, first_sentence, last_sentence, embedding FROM chunks WHERE memo_id = ? "
                        "ORDER BY id", (memo_id,)).fetchall()
    chunk_vectors = np.stack([np.frombuffer(r[4], dtype=np.float32) for r in rows]) if rows else \
        np.zeros((0, source.space.dimension), dtype=np.float32)
    run = conn.execute("SELECT extractor, content_hash FROM entity_runs WHERE memo_id = ?", (memo_id,)).fetchone()
    extractor = run[0] if run and run[1] == memo.content_hash else None
    spans = [(s, e) for _, s, e in sentences.spans]
    draft = MemoDraft(memo.text, memo.title, memo.content_hash, memo.body_start, tuple(spans), memo.date, memo.type,
                      memo.source, memo.tags)
    return PreparedMemo(draft, spans, sentences.vectors, [Chunk(*r[:4]) for r in rows], chunk_vectors,
                        tuple(source.entities.of_memo(memo_id)) if extractor else (), extractor)


def transfer(data_dir: Path, config: Mapping[str, Any], progress: Callable[[int, int], None] = lambda i, n: None
             ) -> TransferReport:
    """Copy ``data_dir`` into the database of ``config["DATABASE_URL"]``; ``progress(done, total)`` per memo."""
    from service.storage.embedded import EmbeddedSettings, EmbeddedStorage
    from service.storage.postgres import PostgresSettings, PostgresStorage

    space = stored_space(data_dir)
    source = EmbeddedStorage(EmbeddedSettings.from_config({**config, "DATA_DIR": str(data_dir)}), space)
    try:
        target = PostgresStorage(PostgresSettings.from_config(config), space)
        try:
            return _copy(source, target, progress)
        finally:
            target.close()
    finally:
        source.close()


def _copy(source: Any, target: Any, progress: Callable[[int, int], None]) -> TransferReport:
    conn = source.db.connection()
    # in the order their chunks were stored: new chunk ids then sort as the old ones did, so that searches
    # break ties between chunks alike
    memos = conn.execute("SELECT m.id, m.content_hash, m.created_at, m.updated_at FROM memos m ORDER BY "
                         "(SELECT min(c.id) FROM chunks c WHERE c.memo_id = m.id), m.created_at, m.id").fetchall()
    present = {r[0] for r in target.db.all("SELECT content_hash FROM memos WHERE content_hash = ANY(%s)",
                                           ([m[1] for m in memos],))}
    copied = skipped = 0
    for done, (memo_id, content_hash, created_at, updated_at) in enumerate(memos, 1):
        prepared = None if content_hash in present else _prepared(source, memo_id)
        if prepared is None:
            skipped += 1
        else:
            stored, created = target.memos.add(memo_id, prepared)
            copied += created
            skipped += not created
            if created:  # keep the memo's own times: lists and the brief queue order by them
                with target.db.write() as pg:
                    pg.execute("UPDATE memos SET created_at = %s, updated_at = %s WHERE id = %s",
                               (created_at, updated_at, memo_id))
        progress(done, len(memos))
    briefs = conn.execute("SELECT content_hash, method, max_sentences, body FROM briefs").fetchall()
    if briefs:
        with target.db.write() as pg:
            pg.cursor().executemany("INSERT INTO briefs(content_hash, method, max_sentences, body) VALUES "
                                    "(%s, %s, %s, %s) ON CONFLICT DO NOTHING", briefs)
    counts = _verify(source, target, [m[1] for m in memos])
    return TransferReport(len(memos), copied, skipped, len(briefs), counts)


def _verify(source: Any, target: Any, hashes: list[str]) -> dict[str, int]:
    """The data dir's memos, chunks, sentences and vectors, counted again in the database by content hash."""
    conn = source.db.connection()
    expected = {
        "memos": conn.execute("SELECT count(*) FROM memos").fetchone()[0],
        "chunks": conn.execute("SELECT count(*) FROM chunks").fetchone()[0],
        "sentences": conn.execute("SELECT count(*) FROM sentences").fetchone()[0],
        "vectors": source.counts()["vectors"],
    }
    row = target.db.one(
        "SELECT count(*), coalesce(sum((SELECT count(*) FROM chunks c WHERE c.memo_id = m.id)), 0), "
        "coalesce(sum((SELECT count(*) FROM sentences s WHERE s.memo_id = m.id)), 0), "
        "coalesce(sum((SELECT count(embedding) FROM chunks c WHERE c.memo_id = m.id)), 0) "
        "FROM memos m WHERE m.content_hash = ANY(%s)", (hashes,))
    found = dict(zip(("memos", "chunks", "sentences", "vectors"), map(int, row)))
    if found != expected:
        raise TransferError(f"the copy does not match the data dir: {found} in the database, {expected} in the data dir")
    return found
