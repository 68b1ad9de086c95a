"""Named entities per memo: which mentions are kept, how they are stored, filtered on and counted."""
from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from models.nlp import Entity, EntityExtractor
from service.lexical import phrase_key

if TYPE_CHECKING:
    from service.store import MemoFilter, Store

log = logging.getLogger(__name__)

# People, places and organisations (OntoNotes labels); facilities (bases, ports, airports) count as places.
KINDS = {"PERSON": "person", "GPE": "place", "LOC": "place", "FAC": "place", "ORG": "organisation"}

SCHEMA = """
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

_LEADING = re.compile(r"^(?:the|The|THE)\s+")
_TRAILING = re.compile(r"(?:['\u2019]s|[\s.,;:!?'\"\u2019\u201d)\]-])+$")


@dataclass(frozen=True)
class EntityFacet:
    """An entity name, its label, and how many memos (among those filtered) mention it."""

    text: str
    label: str
    memos: int


def find_entities(extractor: EntityExtractor, text: str) -> tuple[Entity, ...]:
    """The people, places and organisations the extractor finds in ``text``, trimmed of a leading "the" and
    a trailing possessive or punctuation; ``text[start:end]`` is still each mention's text."""
    out: list[Entity] = []
    for entity in extractor.entities(text):
        if entity.label not in KINDS:
            continue
        start, end = entity.start, entity.end
        surface = text[start:end]
        lead = _LEADING.match(surface)
        if lead:
            start += lead.end()
        tail = _TRAILING.search(text, start, end)
        if tail:
            end = tail.start()
        if end > start and phrase_key(text[start:end]) and (not out or start >= out[-1].end):
            out.append(Entity(text[start:end], entity.label, start, end))
    return tuple(out)


def write_entities(
    conn: sqlite3.Connection, memo_id: str, entities: Sequence[Entity], extractor: str, content_hash: str
) -> None:
    """Replace a memo's entities, found by ``extractor`` in the text with ``content_hash``, inside the
    caller's transaction."""
    conn.execute("DELETE FROM entities WHERE memo_id = ?", (memo_id,))
    conn.executemany(
        "INSERT INTO entities(memo_id, start, end, label, text, key) VALUES (?, ?, ?, ?, ?, ?)",
        [(memo_id, e.start, e.end, e.label, e.text, phrase_key(e.text)) for e in entities],
    )
    conn.execute("INSERT OR REPLACE INTO entity_runs(memo_id, extractor, content_hash) VALUES (?, ?, ?)",
                 (memo_id, extractor, content_hash))


def entity_clauses(names: Sequence[str]) -> tuple[list[str], list[object]]:
    """SQL conditions on memo alias ``m``: the memo mentions every name (case-insensitive, whole words, so
    ``putin`` matches "Vladimir Putin" but ``put`` does not)."""
    clauses, params = [], []
    for name in names:
        key = phrase_key(name)
        if not key:
            clauses.append("0")
            continue
        clauses.append("EXISTS (SELECT 1 FROM entities e WHERE e.memo_id = m.id AND instr(e.key, ?) > 0)")
        params.append(key)
    return clauses, params


def memo_entities(store: "Store", memo_id: str) -> list[Entity]:
    """A memo's kept mentions, in text order."""
    rows = store.connection().execute(
        "SELECT text, label, start, end FROM entities WHERE memo_id = ? ORDER BY start", (memo_id,)
    ).fetchall()
    return [Entity(*r) for r in rows]


def entity_facets(store: "Store", where: "MemoFilter", limit: int) -> list[EntityFacet]:
    """The ``limit`` entities mentioned by the most memos among those that pass ``where``. Mentions with the
    same words are one facet, shown with their most frequent spelling and label."""
    clause, params = where.where()
    base = f"FROM entities e JOIN memos m ON m.id = e.memo_id WHERE {clause}"
    conn = store.connection()
    counts = conn.execute(
        f"SELECT e.key, count(DISTINCT e.memo_id) AS n {base} GROUP BY e.key ORDER BY n DESC, e.key LIMIT ?",
        [*params, limit],
    ).fetchall()
    shown = {key for key, _ in counts}
    names: dict[str, tuple[int, str, str]] = {}
    for key, text, label, mentions in conn.execute(
        f"SELECT e.key, e.text, e.label, count(*) {base} GROUP BY e.key, e.text, e.label", params
    ):
        if key in shown and (key not in names or mentions > names[key][0]):
            names[key] = (mentions, text, label)
    return [EntityFacet(names[key][1], names[key][2], n) for key, n in counts]


def backfill_entities(store: "Store", extractor: EntityExtractor) -> int:
    """Extract entities for memos stored before entities existed, read by another extractor, or changed
    since they were read; returns how many memos were (re)read."""
    conn = store.connection()
    pending = conn.execute(
        "SELECT m.id, m.content_hash FROM memos m LEFT JOIN entity_runs r ON r.memo_id = m.id "
        "WHERE r.extractor IS NULL OR r.extractor != ? OR r.content_hash != m.content_hash "
        "ORDER BY m.created_at, m.id",
        (extractor.name,),
    ).fetchall()
    if pending:
        log.info("extracting entities for %d stored memos with %s", len(pending), extractor.name)
    done = 0
    for memo_id, digest in pending:
        text = store.memo_text(memo_id)
        if text is None:  # deleted meanwhile
            continue
        found = find_entities(extractor, text)
        with store.transaction() as conn:
            # The memo may have been replaced or deleted while its text was being read.
            if conn.execute("SELECT content_hash FROM memos WHERE id = ?", (memo_id,)).fetchone() == (digest,):
                write_entities(conn, memo_id, found, extractor.name, digest)
                done += 1
    return done
