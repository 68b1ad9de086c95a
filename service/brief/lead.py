"""The default extractive brief: the memo's lead, without news furniture, to a word budget.

News puts what matters first, and on CNN/DM the MMR picks that moved past the lead beat Lead-3 on the
rows they were tuned on but not on held-out articles; so the brief keeps the lead and spends its words
better: no datelines, bylines, time stamps or captions, and about as many words as a human summary."""
from __future__ import annotations

from service.brief.furniture import is_furniture, trim_sentence
from service.brief.key_sentences import Brief, BriefSentence, BriefSettings

METHOD = "extractive-lead"

Span = tuple[int, int]


def story_sentences(text: str, spans: list[Span], min_words: int) -> list[Span]:
    """The spans of the memo's story sentences, trimmed of datelines and glued captions: no furniture, and
    none shorter than ``min_words`` unless nothing longer is left."""
    trimmed = [trim_sentence(text, s, e) for s, e in spans]
    story = [(s, e) for s, e in trimmed if not is_furniture(text[s:e])]
    long_enough = [(s, e) for s, e in story if len(text[s:e].split()) >= min_words]
    return long_enough or story or trimmed


def fit_budget(word_counts: list[int], count: int, budget: int) -> int:
    """How many of the leading sentences to keep: at least one, at most ``count``, and the number whose
    words come nearest ``budget`` (a sentence is added while it brings the total closer)."""
    kept, total = 0, 0
    for words in word_counts[:count]:
        if kept and abs(total + words - budget) > abs(total - budget):
            break
        kept, total = kept + 1, total + words
    return kept


def make_lead_brief(text: str, spans: list[Span], count: int, settings: BriefSettings) -> Brief:
    """The brief of ``text`` from its sentence ``spans``: up to ``count`` leading story sentences, about
    ``count * settings.words_per_sentence`` words, each a verbatim span of ``text``."""
    if count <= 0 or not spans:
        return Brief("", (), METHOD)
    story = story_sentences(text, spans, settings.min_words)
    kept = story[: fit_budget([len(text[s:e].split()) for s, e in story], count, count * settings.words_per_sentence)]
    sentences = tuple(BriefSentence(text[s:e], s, e) for s, e in kept)
    return Brief(" ".join(" ".join(s.text.split()) for s in sentences), sentences, METHOD)
