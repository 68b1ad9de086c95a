"""Key-sentence selection: count, order, no near-duplicates, lead bias."""
from __future__ import annotations

import numpy as np

from service.brief.key_sentences import BriefSettings, make_brief, select_sentences


def test_picks_count_sentences_in_memo_order_without_duplicates():
    vectors = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.7, 0.7, 0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picked = select_sentences(vectors, [10] * 5, 3, BriefSettings())
    assert len(picked) == 3 and picked == sorted(picked)
    assert not {0, 1} <= set(picked), "an exact duplicate is never picked twice"


def test_short_sentences_only_when_needed():
    vectors = np.eye(4, dtype=np.float32)
    assert 0 not in select_sentences(vectors, [2, 10, 10, 10], 2, BriefSettings())
    assert select_sentences(vectors[:2], [2, 2], 3, BriefSettings()) == [0, 1]
    # fewer long sentences than asked for: short ones fill the brief
    assert len(select_sentences(vectors, [2, 2, 10, 2], 2, BriefSettings())) == 2


def test_lead_bias_prefers_early_sentences_when_all_else_is_equal():
    vectors = np.tile(np.eye(1, 8, dtype=np.float32), (6, 1)) + np.eye(6, 8, dtype=np.float32) * 0.01
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = BriefSettings(mmr_lambda=1.0)
    assert select_sentences(vectors, [10] * 6, 2, settings) == [0, 1]


def test_make_brief_quotes_the_text():
    text = "First one here now. Second one here now. Third one here now."
    spans = [(0, 19), (20, 40), (41, 60)]
    brief = make_brief(text, spans, np.eye(3, dtype=np.float32), 2, BriefSettings(min_words=1))
    assert len(brief.sentences) == 2
    assert all(text[s.start : s.end] == s.text for s in brief.sentences)
    assert brief.brief == " ".join(s.text for s in brief.sentences)


def test_news_datelines_are_trimmed_from_brief_sentences():
    from service.brief.key_sentences import trim_dateline

    for raw, kept in [
        ("(CNN) Donald Sterling's remarks cost him an NBA team.", "Donald Sterling's remarks cost him an NBA team."),
        ("Rome (CNN) Italy is coping with a rising wave of migrants.", "Italy is coping with a rising wave of migrants."),
        ("LONDON (Reuters) - Shares fell sharply on Monday in London.", "Shares fell sharply on Monday in London."),
        ("The council met (CNN) reporters on Monday to talk.", "The council met (CNN) reporters on Monday to talk."),
        ("(CNN) Short.", "(CNN) Short."),
    ]:
        start, end = trim_dateline(raw, 0, len(raw))
        assert raw[start:end] == kept
