"""Named entities per memo: which mentions are kept, and reading the memos an extractor has not read."""
from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from typing import Sequence

from models.nlp.entities import Entity, EntityExtractor
from service.ingest.parse import parse_header
from service.retrieval.lexical import phrase_key
from service.storage.base import EntityStore, MemoRepository

log = logging.getLogger(__name__)

# People, places and organisations (OntoNotes labels); facilities (bases, ports, airports) count as places.
KINDS = {"PERSON": "person", "GPE": "place", "LOC": "place", "FAC": "place", "ORG": "organisation"}

_LEADING = re.compile(r"^(?:the|The|THE)\s+")
_TRAILING = re.compile(r"(?:['\u2019]s|[\s.,;:!?'\"\u2019\u201d)\]-])+$")
# "Chief ... Officer" titles: roles, never organisations, however tagged. A closed list, not a pattern:
# COSCO (a shipping line) and CSO (a statistics office) are organisations.
CHIEF_OFFICERS = frozenset({"CEO", "CFO", "COO", "CTO", "CIO", "CMO", "CRO", "CDO", "CISO", "CHRO"})


def find_entities(extractor: EntityExtractor, text: str) -> tuple[Entity, ...]:
    """The people, places and organisations the extractor finds in ``text`` (see ``trimmed_entities``), less
    the mentions the memo itself contradicts (``drop_contradicted``)."""
    return drop_contradicted(text, trimmed_entities(extractor, text))


def trimmed_entities(extractor: EntityExtractor, text: str) -> tuple[Entity, ...]:
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


def drop_contradicted(text: str, mentions: tuple[Entity, ...]) -> tuple[Entity, ...]:
    """Drop the mentions a small NER model gets wrong in ways the memo itself shows:

    - a name the memo labels two ways keeps its most frequent label (the first mention's on a tie);
    - a one-word mention that is the last word of a person's name in the memo ("Stoltenberg" after "Jens
      Stoltenberg") is that person, so any other label it got is dropped;
    - a "Chief ... Officer" title (CEO, CFO) is a role, not an organisation;
    - the memo's ``<date>; MEMO:`` header names no one (its type word gets tagged as a place)."""
    header_end = parse_header(text).end
    body = [m for m in mentions if m.start >= header_end]
    labels: dict[str, Counter[str]] = {}
    for m in body:
        labels.setdefault(phrase_key(m.text), Counter())[m.label] += 1
    surnames = {phrase_key(m.text.split()[-1]) for m in body if m.label == "PERSON" and len(m.text.split()) > 1}
    kept = []
    for m in body:
        key = phrase_key(m.text)
        # most_common keeps first-seen order among equal counts, and the counters filled in mention order
        if labels[key].most_common(1)[0][0] != m.label:
            continue
        if m.label != "PERSON" and len(m.text.split()) == 1 and key in surnames:
            continue
        if m.label == "ORG" and m.text.upper() in CHIEF_OFFICERS:
            continue
        kept.append(m)
    return tuple(kept)


class EntityReader:
    """Reads entities for the memos that lack them: ones stored before entities existed, read by another
    extractor, changed since, or acknowledged before their entities were read (ingest defers them, as it
    does sentence vectors: ``service.ingest.deferred``). The queue is the store itself (``stale``), so a
    memo acknowledged just before a crash is read after the restart, and any process over a shared store
    can read what another acknowledged. One lock keeps the filler thread and readers that need entities now
    from reading the same memo twice in this process."""

    def __init__(self, entities: EntityStore, memos: MemoRepository, extractor: EntityExtractor,
                 sole_writer: bool = False) -> None:
        self._entities = entities
        self._memos = memos
        self._extractor = extractor
        self._lock = threading.RLock()  # settle() holds it across its reads
        # With one writing process (the embedded backend), this one knows when a memo may have come without
        # entities (``written``), and ``waiting`` skips its query (a scan of every memo: ~13 ms at 10,000)
        # while none was written since a scan found none pending. Writers elsewhere (PostgreSQL): always query.
        self._sole_writer = sole_writer
        self._written = 0
        self._settled = -1

    def written(self) -> None:
        """A memo was stored, maybe without its entities (called before it is acknowledged)."""
        with self._lock:
            self._written += 1

    def pending(self, memo_ids: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """``(memo id, content hash)`` of the memos (among ``memo_ids``) whose entities are not read yet."""
        if memo_ids is not None and not memo_ids:
            return []
        return self._entities.stale(self._extractor.name, memo_ids)

    def waiting(self) -> list[tuple[str, str]]:
        """``pending()`` of every memo, without the scan when this process is the only writer and has written
        nothing since a scan found none pending."""
        with self._lock:
            mark = self._written
            if self._sole_writer and self._settled == mark:
                return []
        found = self.pending()
        if not found:
            with self._lock:
                self._settled = max(self._settled, mark)
        return found

    def read(self, memo_id: str, content_hash: str) -> bool:
        """Find and store one memo's entities; False when it was deleted or changed meanwhile (its new text
        came with its entities: an update reads them before it stores)."""
        with self._lock:
            text = self._memos.text(memo_id)
            if text is None:
                return False
            return self._entities.put(memo_id, find_entities(self._extractor, text), self._extractor.name,
                                      content_hash)

    def settle(self, memo_ids: Sequence[str] | None = None) -> int:
        """Read now the entities of every memo (among ``memo_ids``) acknowledged without them, so a filter or
        a count by entity that follows misses none; how many memos were read. Those still pending after
        the thread that holds the lock is done are read here."""
        everything = memo_ids is None
        with self._lock:
            mark = self._written
        pending = self.waiting() if everything else self.pending(memo_ids)
        read = 0
        if pending:
            with self._lock:  # the filler or another reader may have read some while this one waited
                todo = self.pending([m for m, _ in pending])
                read = sum(self.read(memo_id, digest) for memo_id, digest in todo)
        if everything:
            with self._lock:  # every memo written before ``mark`` is read (or gone, or changed with its own)
                self._settled = max(self._settled, mark)
        return read


def backfill_entities(entities: EntityStore, memos: MemoRepository, extractor: EntityExtractor) -> int:
    """Extract entities for memos stored before entities existed, read by another extractor, changed
    since they were read, or acknowledged before a crash without them; returns how many memos were read."""
    reader = EntityReader(entities, memos, extractor)
    pending = reader.pending()
    if pending:
        log.info("extracting entities for %d stored memos with %s", len(pending), extractor.name)
    return sum(reader.read(memo_id, digest) for memo_id, digest in pending)
