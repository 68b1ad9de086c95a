"""Words for lexical matching: lower-cased, accents folded, stop words dropped, Porter-stemmed; BM25's terms.

Porter (not Snowball) so that stems match the terms of the SQLite FTS5 ``porter`` index, whose document
frequencies weight the words. Every storage backend ranks chunks by BM25 over ``index_terms`` with ``K1``
and ``B``, so their lexical rankings agree.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*", re.UNICODE)
_INDEX_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

K1 = 1.2  # FTS5's bm25() defaults
B = 0.75

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can could did didn't do does doesn't doing don't down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is isn't it it's its
    itself just me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that that's the their theirs them themselves then there these they
    this those through to too under until up very was wasn't we were weren't what when where which while who
    whom why will with would you your yours yourself yourselves s t also said says say mentioned mention
    according""".split()
)

_local = threading.local()


def _stemmer():
    # PyStemmer objects are not thread-safe; keep one per thread.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("porter")
    return stemmer


def fold_diacritics(text: str) -> str:
    """``text`` without combining marks, as FTS5's ``remove_diacritics``: "gdańsk" -> "gdansk"."""
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A lower-cased word as FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer indexes it: diacritics
    folded, then Porter's stemmer as SQLite has it (tokens under 3 or over 64 characters left as they are)."""
    word = fold_diacritics(word)
    if not 3 <= len(word) <= 64:
        return word
    return _sqlite_departures(_stemmer().stemWord(word))


def _consonant(word: str, i: int) -> bool:
    if word[i] in "aeiou":
        return False
    return word[i] != "y" or i == 0 or not _consonant(word, i - 1)


def _measure(word: str) -> int:
    """Porter's m: how many vowel-consonant runs ``word`` has."""
    runs, vowel_seen = 0, False
    for i in range(len(word)):
        if not _consonant(word, i):
            vowel_seen = True
        elif vowel_seen:
            runs, vowel_seen = runs + 1, False
    return runs


def _cvc(word: str) -> bool:
    return (len(word) >= 3 and _consonant(word, len(word) - 1) and not _consonant(word, len(word) - 2)
            and _consonant(word, len(word) - 3) and word[-1] not in "wxy")


def _sqlite_departures(stemmed: str) -> str:
    """PyStemmer's ``porter`` is the published algorithm; SQLite's is Porter's own C version, whose step 2
    also rewrites ``logi`` to ``log`` and ``bli`` to ``ble`` (``technology``: ``technolog``, ``possibly``:
    ``possibl``). A word those rules touch leaves the published algorithm ending in ``logi`` or ``bli``
    (no later step changes such an ending), so the rest of SQLite's steps 2-5 are applied from there."""
    if stemmed.endswith("logi") and _measure(stemmed[:-4]) > 0:
        return stemmed[:-1]
    if not stemmed.endswith("bli") or _measure(stemmed[:-3]) == 0:
        return stemmed
    word = stemmed[:-1] + "e"  # step 2: bli -> ble
    if word.endswith(("able", "ible")) and _measure(word[:-4]) > 1:  # step 4
        return word[:-4]
    base = word[:-1]  # step 5a: a final e goes when m > 1, or m == 1 and the stem does not end cvc
    if _measure(base) > 1 or (_measure(base) == 1 and not _cvc(base)):
        word = base
    return word


def words(text: str) -> list[str]:
    """Lower-cased word tokens, stop words included."""
    return [m.group(0).lower().replace("\u2019", "'") for m in _TOKEN.finditer(text)]


def terms(text: str) -> list[str]:
    """Stemmed content words (stop words removed), in order, repeats kept."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


@dataclass(frozen=True)
class TermSet:
    """A sentence's distinct terms, also in sorted order so that prefix questions take a bisection."""

    members: frozenset[str]
    ordered: tuple[str, ...]

    @classmethod
    def of(cls, found: Iterable[str]) -> "TermSet":
        members = frozenset(found)
        return cls(members, tuple(sorted(members)))

    def __contains__(self, term: str) -> bool:
        return term in self.members

    def extends(self, term: str) -> bool:
        """Some member starts with ``term`` (the first member not below ``term`` would)."""
        i = bisect_left(self.ordered, term)
        return i < len(self.ordered) and self.ordered[i].startswith(term)

    def prefixes(self, term: str, shortest: int = 4) -> bool:
        """Some member of at least ``shortest`` characters, shorter than ``term``, starts it."""
        return any(term[:n] in self.members for n in range(shortest, len(term)))


@lru_cache(maxsize=65536)
def sentence_terms(text: str) -> TermSet:
    """``terms`` of a memo sentence, cached: the same sentences are scored again and again by ``/ask``."""
    return TermSet.of(terms(text))


def phrase_key(text: str) -> str:
    """Case-folded words joined and wrapped by single spaces (``"Bashar Al-Assad"`` -> ``" bashar al assad "``),
    so that ``phrase_key(a) in phrase_key(b)`` means the words of ``a`` occur, in order, as whole words of ``b``."""
    found = words(text.casefold())
    return f" {' '.join(found)} " if found else ""


def index_terms(text: str) -> list[str]:
    """The terms FTS5 indexes for ``text``, in order (their count is FTS5's document length): unicode61
    tokens (letters and digits), lower-cased, diacritics removed, then ``stem`` (SQLite's Porter). Equal to
    FTS5's for every token of ../shared/eval's texts but 4 Greek words (FTS5 folds their final sigma)."""
    # folded before tokenising: a decomposed accent would otherwise split the word
    return [stem(t) for t in _INDEX_TOKEN.findall(fold_diacritics(text).lower())]


def query_terms(words: Sequence[str]) -> list[str] | None:
    """The terms of query words, one each, in order; None when a word is not one term for FTS5 (``o'neill``
    is the phrase ``o neill`` there, which an index without positions cannot match)."""
    found = [index_terms(w) for w in words]
    return [t[0] for t in found] if all(len(t) == 1 for t in found) else None
