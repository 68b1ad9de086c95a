"""Key-sentence selection (MMR), news furniture, and the lead brief: count, order, budget, verbatim spans."""
from __future__ import annotations

import numpy as np

from service.brief.furniture import is_furniture, trim_dateline, trim_sentence
from service.brief.key_sentences import BriefSettings, make_brief, select_sentences
from service.brief.lead import fit_budget, make_lead_brief


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
    for raw, kept in [
        ("(CNN) Donald Sterling's remarks cost him an NBA team.", "Donald Sterling's remarks cost him an NBA team."),
        ("Rome (CNN) Italy is coping with a rising wave of migrants.", "Italy is coping with a rising wave of migrants."),
        ("LONDON (Reuters) - Shares fell sharply on Monday in London.", "Shares fell sharply on Monday in London."),
        ("The council met (CNN) reporters on Monday to talk.", "The council met (CNN) reporters on Monday to talk."),
        ("(CNN) Short.", "(CNN) Short."),
        ("WASHINGTON \u2014 The Senate voted on Tuesday to approve the bill.", "The Senate voted on Tuesday to approve the bill."),
        ("The US - China talks ended on Tuesday without a deal.", "The US - China talks ended on Tuesday without a deal."),
    ]:
        start, end = trim_dateline(raw, 0, len(raw))
        assert raw[start:end] == kept


def test_page_furniture_is_recognised_and_story_sentences_are_not():
    for furniture in ["By .", "PUBLISHED: .", "UPDATED: .", "14:11 EST, 25 October 2013 .", "| .",
                      "Last updated at 3:51 PM on 23rd December 2011 .", "Posted: 10:02 GMT, 4 May 2015", "Scroll down for video .",
                      "Click here to read more .", "READ MORE: Police appeal for witnesses .",
                      "Editor's note: This story contains graphic details.", "Media playback is unsupported on your device."]:
        assert is_furniture(furniture), furniture
    for story in ["Updated figures show that sales rose 5% in March.", "By the end of the day, the talks had failed.",
                  "Photographs of the scene were released on Monday.", "Subscribers will pay more from May.", "Posted letters arrived late."]:
        assert not is_furniture(story), story


def test_a_caption_glued_to_its_sentence_is_trimmed():
    raw = ("An FBI agent's sniper rifle (similar to the one pictured) was stolen from a hotel parking lot "
           "An FBI agent's sniper rifle was stolen from a hotel parking lot days before the visit.")
    start, end = trim_sentence(raw, 0, len(raw))
    assert raw[start:end] == "An FBI agent's sniper rifle was stolen from a hotel parking lot days before the visit."
    plain = "The council met on Monday. The council met again on Tuesday to vote on the plan."
    assert trim_sentence(plain, 0, len(plain)) == (0, len(plain))


def test_the_budget_keeps_the_number_of_sentences_nearest_it():
    assert fit_budget([30, 30, 30], 3, 66) == 2
    assert fit_budget([20, 20, 20], 3, 66) == 3
    assert fit_budget([80, 10], 3, 66) == 1, "always one sentence, however long"
    assert fit_budget([10, 10, 10, 10], 2, 66) == 2, "never more than asked for"
    assert fit_budget([], 3, 66) == 0


def test_the_lead_brief_skips_furniture_and_quotes_the_text():
    text = ("By . Jane Smith . PUBLISHED: . 14:11 EST, 25 October 2013 . | . UPDATED: . 15:36 EST, 25 October 2013 . "
            "(CNN) -- The bishop of Fargo has exposed hundreds of church members to hepatitis A at Easter. "
            "Scroll down for video . The bishop said on Friday that he was sorry for the worry it caused. "
            "Health officials will offer vaccinations to everyone who attended the services this month. "
            "The diocese has more than ninety thousand members across the eastern half of the state.")
    from models.nlp.sentences import SentenceSplitter

    spans = SentenceSplitter().spans(text)
    brief = make_lead_brief(text, spans, 3, BriefSettings())
    assert [s.text for s in brief.sentences] == [
        "The bishop of Fargo has exposed hundreds of church members to hepatitis A at Easter.",
        "The bishop said on Friday that he was sorry for the worry it caused.",
        "Health officials will offer vaccinations to everyone who attended the services this month.",
    ]
    assert all(text[s.start : s.end] == s.text for s in brief.sentences)
    assert brief.method == "extractive-lead" and brief.brief == " ".join(s.text for s in brief.sentences)
    assert len(make_lead_brief(text, spans, 1, BriefSettings()).sentences) == 1
    short = make_lead_brief(text, spans, 3, BriefSettings(words_per_sentence=8))
    assert len(short.sentences) == 2, "a tighter budget keeps fewer sentences"
    assert make_lead_brief(text, [], 3, BriefSettings()).sentences == ()
