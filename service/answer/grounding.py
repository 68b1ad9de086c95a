"""Grounding generated text in the memos: snap an answer to a verbatim span, check brief sentences."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from models.nlp.candidates import Phrase
from service.retrieval.lexical import STOP_WORDS

_TOKEN = re.compile(r"[^\W_]+(?:[.,'\u2019-][^\W_]+)*", re.UNICODE)
_LEAD_INS = re.compile(r"^(?:the\s+answer\s+is|answer)\s*[:,-]?\s*", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"\b(?:not|no|never|nor|none|nobody|nothing|neither|without)\b|n['\u2019]t\b", re.I)
_QUOTES = "\"'\u201c\u201d\u2018\u2019`"
# entity labels whose words must appear in the memo for a brief sentence to count as supported
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})
# what a brief sentence must find in the memo sentences closest to it: names, numbers and dates
LOCAL_LABELS = NAME_LABELS | {"DATE", "CARDINAL", "MONEY", "PERCENT", "QUANTITY"}


@dataclass(frozen=True)
class Located:
    """Where a generated answer sits: ``passage_index`` among the candidates, ``[start, end)`` inside it.
    ``items``: a list answer ("A, B and C") whose every item was found in that sentence; the range then runs
    from the first item to the last."""

    passage_index: int
    start: int
    end: int
    items: bool = False


_ITEM_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&)\s*", re.I)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def clean_answer(text: str) -> str:
    """First line, without lead-ins, quotes and a final full stop."""
    line = text.strip().split("\n", 1)[0].strip()
    line = _LEAD_INS.sub("", line).strip()
    while len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    for mark in "\"`":  # a lone one at an edge; a quoted phrase inside the answer keeps both of its marks
        if line.count(mark) % 2:
            line = line.strip(mark).strip()
    return line[:-1].rstrip() if line.endswith(".") else line


def is_refusal(text: str) -> bool:
    folded = _fold(clean_answer(text))
    return not folded or folded.startswith(("unanswerable", "not answerable", "the memo does not", "i don"))


def locate(answer: str, sentences: Sequence[str], min_f1: float = 0.8) -> Located | None:
    """The verbatim span of ``sentences`` that the generated ``answer`` stands for: an exact
    (case-insensitive) occurrence, else the window of whole words with the best token F1 against the
    answer, if that F1 is at least ``min_f1``; else, for a list answer, every item found in one sentence.
    None: the answer is not in the text."""
    answer = clean_answer(answer)
    if not answer:
        return None
    found = _locate_one(answer, sentences, min_f1)
    if found is not None:
        return found
    items = [re.sub(r"^(?:the|a|an)\s+", "", i, flags=re.I) for i in _ITEM_SPLIT.split(answer) if i.strip()]
    if len(items) < 2:
        return None
    for index, sentence in enumerate(sentences):
        spans = [_locate_one(item, [sentence], min_f1) for item in items]
        if all(spans):
            return Located(index, min(s.start for s in spans), max(s.end for s in spans), items=True)
    return None


def locate_tail(answer: str, sentences: Sequence[str]) -> Located | None:
    """The longest run of whole words that ends an answer not found as a whole and occurs verbatim in one
    of ``sentences``: a small model often restates the question and ends with the answer it copied ("The
    Saxon Garden in Polish is Ogród Saski"). None when the answer's last word is in none of them. Callers
    trim the question's own words off the run (``service.phrases.trim_answer``)."""
    return _locate_edge(answer, sentences, from_end=True)


def locate_head(answer: str, sentences: Sequence[str]) -> Located | None:
    """``locate_tail``'s mirror: the longest verbatim run that opens the answer, for a restatement that
    starts with the answer it copied ("The New York Knicks reached their first NBA Finals since 1999")."""
    return _locate_edge(answer, sentences, from_end=False)


def _locate_edge(answer: str, sentences: Sequence[str], from_end: bool) -> Located | None:
    wanted = [_fold(m.group(0)) for m in _TOKEN.finditer(clean_answer(answer))]
    if not wanted:
        return None
    if not from_end:
        wanted = wanted[::-1]
    best: tuple[int, Located] | None = None
    for i, sentence in enumerate(sentences):
        tokens = list(_TOKEN.finditer(sentence))
        if not from_end:
            tokens = tokens[::-1]
        folded = [_fold(t.group(0)) for t in tokens]
        for b in range(len(tokens)):
            length = 0
            while length < min(len(wanted), b + 1) and folded[b - length] == wanted[-1 - length]:
                length += 1
            if length and (best is None or length > best[0]):
                first, last = tokens[b - length + 1], tokens[b]
                if not from_end:
                    first, last = last, first
                best = (length, Located(i, first.start(), last.end()))
    return best[1] if best else None


def _whole_words(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` neither starts nor ends inside a word or a number."""
    return ((start == 0 or not (text[start - 1].isalnum() and text[start].isalnum()))
            and (end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())))


def _locate_one(answer: str, sentences: Sequence[str], min_f1: float) -> Located | None:
    folded = _fold(answer)
    for i, sentence in enumerate(sentences):
        text = _fold(sentence)
        if len(text) != len(sentence):
            continue
        at = text.find(folded)
        while at >= 0 and not _whole_words(text, at, at + len(folded)):
            at = text.find(folded, at + 1)  # "ward" is not in "backwards", nor "2" in "24-yard"
        if at >= 0:
            return Located(i, at, at + len(answer))
    wanted = [_fold(m.group(0)) for m in _TOKEN.finditer(answer)]
    content = {w for w in wanted if w not in STOP_WORDS} or set(wanted)
    if not wanted:
        return None
    best: tuple[float, Located] | None = None
    for i, sentence in enumerate(sentences):
        tokens = list(_TOKEN.finditer(sentence))
        for a in range(len(tokens)):
            for b in range(a, min(len(tokens), a + 2 * len(wanted) + 2)):
                window = [_fold(t.group(0)) for t in tokens[a : b + 1]]
                if not content <= set(window):
                    continue  # every content word of the answer (a name, a number) must be there
                common = sum(min(window.count(w), wanted.count(w)) for w in set(wanted))
                p, r = common / len(window), common / len(wanted)
                f1 = 2 * p * r / (p + r)
                if f1 >= min_f1 and (best is None or f1 > best[0]):
                    best = (f1, Located(i, tokens[a].start(), tokens[b].end()))
    return best[1] if best else None


def unsupported_names(sentence: str, memo_text: str, phrases: Callable[[str], list[Phrase]] | None,
                      labels: frozenset[str] = NAME_LABELS) -> list[str]:
    """Numbers and named entities (of ``labels``) of a generated sentence that ``memo_text`` does not contain."""
    memo = _fold(memo_text)
    missing = [n for n in _NUMBER.findall(sentence) if n not in memo]
    for phrase in (phrases(sentence) if phrases else []):
        if phrase.label not in labels:
            continue
        name = _fold(sentence[phrase.start : phrase.end])
        name = re.sub(r"^the\s+|['\u2019]s$", "", name)
        if name and name not in memo:
            missing.append(sentence[phrase.start : phrase.end])
    return missing


def negation_flipped(sentence: str, source: str) -> bool:
    """Whether a generated sentence negates where its source sentence does not ("was not charged" from
    "was charged")."""
    return bool(_NEGATION.search(sentence)) and not _NEGATION.search(source)


def supported(sentence_vector: np.ndarray, memo_vectors: np.ndarray, min_similarity: float) -> float:
    """The best cosine between a generated sentence and the memo's sentences, if it reaches
    ``min_similarity``; else 0."""
    if len(memo_vectors) == 0:
        return 0.0
    best = float(np.max(memo_vectors @ sentence_vector))
    return best if best >= min_similarity else 0.0
