"""Deterministic stand-ins for the models, registered through the same registry as the real ones."""
from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from models.nlp.candidates import Phrase
from models.llm.spec import choose_by_text
from models.nlp.entities import Entity
from service.retrieval.lexical import terms


class HashEmbedder:
    """Bag of stemmed content words hashed into a small signed vector: texts that share words are close,
    texts that share none are orthogonal-ish. Same input, same output, no model files."""

    name = "fake-hash"
    dimension = 64
    max_tokens = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in terms(text) or ["<empty>"]:
                digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
                slot = int.from_bytes(digest[:4], "little") % self.dimension
                out[row, slot] += 1.0 if digest[4] & 1 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] /= norm if norm else 1.0
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


class OtherHashEmbedder(HashEmbedder):
    """The same fake under another name, to test what happens when the configured model changes."""

    name = "fake-hash-2"


class ReversedHashEmbedder(HashEmbedder):
    """Another model with other vectors (the fake's, dimensions reversed): a store must never mix the two."""

    name = "fake-hash-reversed"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.ascontiguousarray(super().embed(texts)[:, ::-1])


class RegexPhrases:
    """Years and day-month-year dates as DATE, other numbers as CARDINAL, runs of capitalised words as
    PERSON: enough structure to exercise short answers without a parser."""

    name = "fake-regex"
    _DATE = re.compile(r"\b\d{1,2} (?:January|February|March|April|May|June|July|August|September|October|"
                       r"November|December) \d{4}\b|\b(?:1[5-9]|20)\d\d\b")
    _NUMBER = re.compile(r"\b\d[\d,]*\b")
    _NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")

    def phrases(self, sentence: str, noun_phrases: bool = True) -> list[Phrase]:
        found = [Phrase(m.start(), m.end(), "DATE") for m in self._DATE.finditer(sentence)]
        taken = {(p.start, p.end) for p in found}
        found += [Phrase(m.start(), m.end(), "CARDINAL") for m in self._NUMBER.finditer(sentence)
                  if not any(s <= m.start() < e for s, e in taken)]
        found += [Phrase(m.start(), m.end(), "PERSON") for m in self._NAME.finditer(sentence) if m.start() > 0]
        return found
class LexiconEntities:
    """Finds the names of a fixed lexicon (whole words, case-sensitive), like a tiny deterministic NER.
    Also emits a label the service must drop (NORP), to test the filtering of labels."""

    name = "fake-lexicon"
    LEXICON = {
        "Vladimir Putin": "PERSON", "Putin": "PERSON", "Bashar Al-Assad": "PERSON", "Assad": "PERSON",
        "Tartus": "GPE", "Syria": "GPE", "Moscow": "GPE", "Mediterranean": "LOC", "the Kremlin": "ORG",
        "Kremlin": "ORG", "the central bank": "ORG", "ministry": "ORG", "Russian": "NORP",
    }

    def __init__(self) -> None:
        names = sorted(self.LEXICON, key=len, reverse=True)  # longest first: "Vladimir Putin" before "Putin"
        self._pattern = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b")

    def entities(self, text: str) -> list[Entity]:
        return [Entity(m.group(0), self.LEXICON[m.group(0)], m.start(), m.end()) for m in self._pattern.finditer(text)]


class OtherLexiconEntities(LexiconEntities):
    """The same fake under another name: stored entities must be extracted again when the model changes."""

    name = "fake-lexicon-2"


class ScriptedGenerator:
    """A deterministic stand-in for the LLM. Answer prompts: the first year in the memo text, else the
    text's first three words (or a canned line, to test grounding). Verification prompts: "yes" when the
    proposed answer is in the memo text, else "no" (``verdict`` overrides). Brief prompts: a paraphrase-like
    rewrite of the first two sentences. ``reply`` overrides everything else."""

    name = "fake-llm"

    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.verdict: str | None = None
        self.prompts: list[str] = []

    def _text(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self.reply is not None and "Proposed answer:" not in prompt:
            return self.reply
        memo = prompt.split("<memo>\n", 1)[1].split("\n</memo>", 1)[0].strip()
        if "Proposed answer:" in prompt:
            proposed = prompt.split("Proposed answer: ", 1)[1].split("\n", 1)[0]
            return self.verdict or ("yes" if proposed in memo else "no")
        if "Question:" in prompt:
            year = re.search(r"\b(?:1[5-9]|20)\d\d\b", memo)
            return (year.group(0) if year else " ".join(memo.split()[:3])) + "\nmore text that is not the answer"
        sentences = re.split(r"(?<=[.!?])\s+", memo)
        return " ".join(f"In short, {s[0].lower()}{s[1:]}" for s in sentences[:2] if s)

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def choose(self, prompt: str, choices):
        return choose_by_text(self, prompt, choices)

    def stream(self, prompt: str, max_tokens: int):
        text = self._text(prompt)
        for word in re.findall(r"\S+\s*", text)[:max_tokens]:
            yield word


def unavailable_generator() -> ScriptedGenerator:
    """A loader for a model that is not there (what ``load_qwen`` raises for parts not installed)."""
    from models.llm.spec import ModelUnavailable

    raise ModelUnavailable("qwen-9b is not ready here: parts not installed")
