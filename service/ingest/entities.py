"""Named entities per memo: which mentions are kept, and reading the memos an extractor has not read."""
from __future__ import annotations

import logging
import re
from collections import Counter

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


def backfill_entities(entities: EntityStore, memos: MemoRepository, extractor: EntityExtractor) -> int:
    """Extract entities for memos stored before entities existed, read by another extractor, or changed
    since they were read; returns how many memos were (re)read."""
    pending = entities.stale(extractor.name)
    if pending:
        log.info("extracting entities for %d stored memos with %s", len(pending), extractor.name)
    done = 0
    for memo_id, digest in pending:
        text = memos.text(memo_id)
        if text is None:  # deleted meanwhile
            continue
        done += entities.put(memo_id, find_entities(extractor, text), extractor.name, digest)
    return done
