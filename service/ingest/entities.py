"""Named entities per memo: which mentions are kept, and reading the memos an extractor has not read."""
from __future__ import annotations

import logging
import re

from models.nlp.entities import Entity, EntityExtractor
from service.retrieval.lexical import phrase_key
from service.storage.base import EntityStore, MemoRepository

log = logging.getLogger(__name__)

# People, places and organisations (OntoNotes labels); facilities (bases, ports, airports) count as places.
KINDS = {"PERSON": "person", "GPE": "place", "LOC": "place", "FAC": "place", "ORG": "organisation"}

_LEADING = re.compile(r"^(?:the|The|THE)\s+")
_TRAILING = re.compile(r"(?:['\u2019]s|[\s.,;:!?'\"\u2019\u201d)\]-])+$")


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
