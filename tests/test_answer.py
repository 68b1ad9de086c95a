"""Answer scoring, short answers and abstention, on hand-made vectors."""
from __future__ import annotations

import numpy as np
import pytest

from service.answer.extractive import AnswerSettings, answer_question, confidence_of, lexical_overlap

from service.types import Passage
from service.retrieval.lexical import terms
from tests.fakes import RegexPhrases


def unit(*xs):
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def passage(text, vector, start=0, context=0.5, memo="m"):
    return Passage(memo, start, start + len(text), text, unit(*vector), context)


def test_best_supported_sentence_wins_and_is_cited_first():
    q = unit(1, 0, 0)
    ps = [
        passage("Rates rose to 5 percent.", (0.2, 1, 0), start=0),
        passage("The harbour got two piers.", (1, 0.1, 0), start=30),
    ]
    result = answer_question("What did the harbour get?", q, ps, AnswerSettings())
    assert not result.abstained and result.answer == "The harbour got two piers."
    assert result.citations[0].start == 30 and result.span == result.citations[0]


def test_when_questions_narrow_to_the_date_inside_the_sentence():
    q = unit(1, 0)
    s = "In 2015, four years into the war, the army intervened."
    result = answer_question("When did the army intervene?", q, [passage(s, (1, 0), start=100)], AnswerSettings(),
                             phrases=RegexPhrases().phrases)
    assert result.answer == "2015"
    assert (result.span.start, result.span.end) == (103, 107)
    assert result.citations[0].quote == s


def test_other_questions_take_the_sentence_less_the_words_that_repeat_them():
    s = "The average age of teachers in Wales is falling."
    result = answer_question("What is happening to the average age of teachers in Wales?", unit(1, 0),
                             [passage(s, (1, 0), start=50)], AnswerSettings(), phrases=RegexPhrases().phrases)
    assert result.answer == "falling"
    assert (result.span.start, result.span.end) == (50 + s.index("falling"), 50 + s.index("."))
    assert result.citations[0].quote == s and result.span.quote == "falling"


def test_abstains_below_the_threshold_but_lists_passages():
    q = unit(1, 0)
    result = answer_question("boiling point of mercury", q, [passage("Rates rose.", (0, 1))], AnswerSettings())
    assert result.abstained and result.answer is None and result.span is None
    assert len(result.citations) == 1 and result.confidence < 0.5


def test_no_passages_abstains():
    result = answer_question("anything", unit(1, 0), [], AnswerSettings())
    assert result.abstained and result.citations == ()


def test_lexical_overlap_weights_words_and_half_matches_stem_prefixes():
    assert lexical_overlap(terms("military sites"), terms("Military site")) == 1.0
    assert lexical_overlap(terms("Russia military sites"), terms("Russian military site")) == pytest.approx(2.7 / 3)
    assert lexical_overlap(terms("mercury"), terms("Russian military site")) == 0.0
    assert lexical_overlap([], terms("anything")) == 0.0
    weights = {"hmeimim": 4.0, "base": 1.0}
    assert lexical_overlap(terms("Hmeimim base"), terms("the Hmeimim airfield"), weights) == pytest.approx(0.8)


def test_confidence_is_a_monotone_probability():
    settings = AnswerSettings()
    values = [confidence_of(x, settings) for x in (-1.0, 0.2, 0.5, 0.8, 2.0)]
    assert values == sorted(values) and 0 < values[0] and values[-1] < 1
    assert confidence_of(-settings.confidence_bias / settings.confidence_slope, settings) == pytest.approx(0.5)


def test_lexical_overlap_prefix_lookups_match_the_plain_definition():
    import random

    from service.retrieval.lexical import TermSet

    def plain(question, sentence):  # the definition, one comparison per pair of terms
        wanted, have = set(question), set(sentence)
        found = sum(1.0 if t in have else 0.7 if len(t) >= 4 and any(
            h.startswith(t) or (len(h) >= 4 and t.startswith(h)) for h in have) else 0.0 for t in wanted)
        return found / len(wanted)

    rng = random.Random(0)
    stems = ["russia", "russian", "rus", "milit", "militari", "site", "sites", "harbo", "harbour", "harb", "base"]
    for _ in range(500):
        question = rng.sample(stems, rng.randint(1, 4))
        sentence = rng.sample(stems, rng.randint(0, 6))
        assert lexical_overlap(question, TermSet.of(sentence)) == pytest.approx(plain(question, sentence))


def test_support_rewards_a_sentence_that_stands_out_from_the_rest():
    from service.answer.extractive import support

    settings = AnswerSettings()
    alone = [(0.6, passage("a", (1, 0))), *[(0.2, passage("b", (1, 0), start=10 * i)) for i in range(1, 10)]]
    crowd = [(0.6, passage("a", (1, 0))), *[(0.58, passage("b", (1, 0), start=10 * i)) for i in range(1, 10)]]
    assert support(alone, settings) == pytest.approx(0.6 + settings.margin_weight * 0.4)
    assert support(crowd, settings) == pytest.approx(0.6 + settings.margin_weight * 0.02)
    assert support(crowd[:1], settings) == 0.6 and support([], settings) == 0.0
    # the same best sentence: answered when it stands out, abstained when every candidate is as good
    assert support(alone, settings) >= settings.abstain_below > support(crowd, settings)
