"""Short answers: question types, candidate choice, and when the whole sentence stays the answer."""
from __future__ import annotations

import pytest

from models.nlp.candidates import Phrase
from service.answer.phrases import (choose_phrase, expected_types, fits_type, narrow_clause, qualifier, short_answer,
                                    trim_answer)
from tests.fakes import RegexPhrases


def answer(question: str, sentence: str) -> str | None:
    phrase = short_answer(question, sentence, RegexPhrases().phrases(sentence))
    return None if phrase is None else sentence[phrase.start : phrase.end]


@pytest.mark.parametrize(
    "question, labels",
    [
        ("When did it start?", {"DATE", "TIME"}),
        ("In what year was it built?", {"DATE", "TIME"}),
        ("How many troops were sent?", {"CARDINAL", "QUANTITY", "NUM"}),
        ("Who signed the treaty?", {"PERSON", "ORG", "NORP"}),
        ("What was his name?", {"PERSON", "ORG", "NORP"}),
        ("Where did they meet?", {"GPE", "LOC", "FAC", "ORG"}),
        ("Which city hosted it?", {"GPE", "LOC", "FAC"}),
        ("What did the report say?", None),
        ("Which Polish city hosted it?", {"GPE", "LOC", "FAC"}),
        ("What did Queen Elizabeth II open in 1981?", None),  # a verb after "what": not "what queen"
    ],
)
def test_expected_types(question, labels):
    assert expected_types(question) == (frozenset(labels) if labels else None)


def test_typed_questions_get_the_phrase_of_that_type():
    assert answer("When did the army intervene?", "In 2015, four years into the war, the army intervened.") == "2015"
    assert answer("How many troops were sent?", "In 2019 about 4,000 troops were sent to the base.") == "4,000"
    assert answer("Who signed the treaty?", "The treaty was signed by Maria Lopez in Geneva.") == "Maria Lopez"


def test_question_words_are_not_the_answer():
    # "2015" is in the question, so the other date answers it
    assert answer("When after 2015 did the war end?", "The war went on after 2015 and ended in 2019.") == "2019"


def test_untyped_questions_keep_the_sentence():
    assert answer("What did the report say?", "The report said that exports fell by 3 percent in 2020.") is None


def test_no_candidate_of_the_type_keeps_the_sentence():
    assert answer("When did the army intervene?", "The army intervened at the request of the regime.") is None


def test_nearest_to_the_question_words_wins():
    sentence = "Smith joined in 1990, and the bridge opened in 2004 after long delays."
    assert answer("When did the bridge open?", sentence) == "2004"


def test_what_type_of_takes_the_qualifier():
    sentence = "Stratigraphers use data from geophysical surveys to map units."
    candidates = [Phrase(0, 14, "NP"), Phrase(29, 48, "NP")]
    assert sentence[29:48] == "geophysical surveys"
    chosen = qualifier("What type of surveys show the units?", sentence, candidates)
    assert chosen is not None and sentence[chosen.start : chosen.end] == "geophysical"


def test_choose_phrase_skips_pronouns_and_the_questions_own_words():
    sentence = "It was built by Engineers near the old mill."
    candidates = [Phrase(0, 2, "NP"), Phrase(16, 25, "NP"), Phrase(31, 43, "NP")]
    assert [sentence[c.start : c.end] for c in candidates] == ["It", "Engineers", "the old mill"]
    chosen = choose_phrase("What did engineers build it near?", sentence, candidates)
    assert chosen is not None and sentence[chosen.start : chosen.end] == "the old mill"


def test_a_clock_time_is_one_number():
    # was "08": the number pattern stopped at the colon
    assert answer("How much time was left in the game?", "Denver took a 24–10 lead with 3:08 left in the game.") == "3:08"


def test_a_range_is_one_number_and_a_date_inside_it_still_answers_when():
    assert answer("How many species have been validated?", "Between 100–150 species have been validated so far.") == "100–150"
    assert answer("When did the war start?", "The war lasted from 1939–1945 across Europe.") == "1939"


def test_a_form_of_the_questions_own_word_is_not_the_answer():
    # "German" shares its stem's start with the question's "Germany"
    sentence = "In 1990 Lothar Maiziere became the final prime minister of the German state."
    assert answer("Who was the final prime minister of East Germany?", sentence) == "Lothar Maiziere"


def test_in_what_year_takes_the_year_of_a_date():
    sentence = "The gallery closed on 25 February 2010 for a refit."
    assert answer("In which year was the gallery closed?", sentence) == "2010"
    assert answer("When was the gallery closed?", sentence) == "25 February 2010"


@pytest.mark.parametrize("question, answer, trimmed", [
    # a leading run of the question's words, cut at a function word
    ("What is happening to the average age of teachers in Wales?", "the average age of teachers in Wales is falling", "falling"),
    ("Why was Polonia relegated in 2013?", "Polonia was relegated in 2013 because of their financial situation",
     "their financial situation"),
    # a trailing one
    ("Who went to Wittenberg to hear Luther speak?", "Students thronged to Wittenberg to hear Luther speak", "Students thronged"),
    # the preposition of a time or place, the noun of "how many", a bracketed abbreviation
    ("When did Tesla get the patent?", "In 1900", "1900"),
    ("When did Luther broaden his attacks?", "In the summer of 1521", "summer of 1521"),
    ("How many seconds were left in the game?", "17 seconds", "17"),
    ("Into what language was the anthem translated?", "American Sign Language (ASL)", "American Sign Language"),
])
def test_trim_answer_drops_what_the_question_already_says(question, answer, trimmed):
    start, end = trim_answer(question, answer)
    assert answer[start:end] == trimmed


@pytest.mark.parametrize("question, answer", [
    ("What did Luther publish besides To the Christian Nobility?", "On the Freedom of a Christian"),  # a title
    ("How can function problems be restated?", "function problems can be recast as decision problems"),  # a compound
    ("What was the Normans' main enemy besides the Byzantine Empire?", "Byzantine Empire and Armenia"),  # a list
    ("What are the attacks on teachers causing?", "attacks on teachers"),  # nothing new would be left
    ("What percentage was Catholic?", "56.2%"),
    ("How many yards did Carolina start from?", "24-yard line"),  # a number is the question's only when it is its
    ("In what year did it open?", "1900"),
    ("What is the expression?", "DTIME(f(n))"),
    ("Which two treaties made it more formal?", "the Treaty of Rome 1957 and the Maastricht Treaty 1992"),  # a name
    ("How many narrow gauge lines were there?", "760 mm (2 ft 6 in) narrow gauge lines"),  # brackets
    ("What type of undergarment was included?", "water-cooled undergarment"),  # "what type of" keeps its noun
    # the question's words run into the answer without a function word between: no cut ("Syria include ...")
    ("Which Russian military sites in Syria are mentioned?", "Russian military sites in Syria include the Hmeimim Air Base."),
])
def test_trim_answer_keeps_names_compounds_lists_and_new_words(question, answer):
    assert trim_answer(question, answer) == (0, len(answer))


def narrowed(question: str, clause: str, candidates: list[Phrase] | None = None) -> str | None:
    found = narrow_clause(question, clause, RegexPhrases().phrases(clause) if candidates is None else candidates)
    return None if found is None else clause[found.start : found.end]


def test_a_clause_answering_a_typed_question_narrows_to_the_phrase():
    assert narrowed("Who did the Broncos beat?", "The Broncos defeated the Pittsburgh Steelers in the final") == "Pittsburgh Steelers"
    assert narrowed("When were the churches destroyed?", "the churches were destroyed after the uprising of 1944") == "1944"


@pytest.mark.parametrize("question, clause, candidates", [
    ("Who did the Broncos beat?", "Pittsburgh Steelers", None),  # a phrase already
    ("What did the Broncos do?", "The Broncos defeated the Pittsburgh Steelers in the final", None),  # no clear type
    ("Who did Tesla partner with?", "two businessmen, Robert Lane and Benjamin Vail", None),  # a list stays whole
    ("Who did Tesla partner with?", "the businessmen Robert Lane, Benjamin Vail", None),
    # part of a longer name: "Polish" of "Polish United Workers' Party"
    ("Whose headquarters was it?", "the former Polish United Workers' Party headquarters", [Phrase(11, 17, "NORP")]),
    ("Whose translation did it influence?", "it influenced William Tyndale's English Bible", [Phrase(14, 29, "PERSON")]),
])
def test_a_clause_is_kept_when_narrowing_would_lose_part_of_the_answer(question, clause, candidates):
    assert narrowed(question, clause, candidates) is None


def test_an_answer_fits_the_type_its_question_asks_for():
    sentence = "The Denver Broncos beat the Carolina Panthers in Santa Clara on February 7, 2016."
    ents = [Phrase(4, 18, "ORG"), Phrase(28, 45, "ORG"), Phrase(49, 60, "GPE"), Phrase(64, 80, "DATE")]

    def span(text):
        start = sentence.index(text)
        return start, start + len(text)

    assert fits_type("Who did the Broncos beat?", sentence, *span("the Carolina Panthers"), ents)
    assert not fits_type("Who did the Broncos beat?", sentence, *span("Santa Clara"), ents), "a place for who"
    assert not fits_type("Who did the Denver Broncos beat?", sentence, *span("Denver Broncos"), ents), "the question's words"
    assert fits_type("When did the Broncos beat the Panthers?", sentence, *span("February 7, 2016"), ents)
    assert not fits_type("When did the Broncos beat the Panthers?", sentence, *span("Santa Clara"), ents)
    assert fits_type("How many points did the Broncos score?", "They scored 24 points.", 11, 13, [])
    assert not fits_type("How many points did the Broncos score?", "They scored a lot.", 11, 17, [])
    assert fits_type("What did the Broncos win?", sentence, *span("Santa Clara"), ents), "no type asked: no check"
    assert fits_type("Who did the Broncos beat?", "They beat the visitors.", 9, 22, []), "no entity: NER may miss"
    assert fits_type("How long did it last?", "It lasted three years.", 10, 21, [Phrase(10, 21, "DATE")])
    assert fits_type("How many points?", "They scored five.", 12, 16, [Phrase(12, 16, "CARDINAL")])
