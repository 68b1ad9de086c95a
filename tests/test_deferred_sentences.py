"""Sentence vectors after the acknowledgement (service.ingest.deferred): a memo is stored with zero rows for
its sentence vectors, readers embed them on the spot, the filler (or memo ingest) stores them later, and
every answer, citation and brief is the one an eager ingest gives."""
from __future__ import annotations

import time

import numpy as np
import pytest

from service.ingest.deferred import fill_memo, missing

MEMOS = [
    "12 Jan 2024; MEMO: The harbour of Tartus was expanded. Engineers added two new piers for naval ships. "
    "The work took three years and cost 40 million dollars.",
    "The central bank raised interest rates to 5 percent. Inflation had reached 9 percent in March. "
    "The governor said rates would stay high until prices settle.",
    "Wheat harvests fell sharply after the drought. Farmers asked the ministry for emergency aid.",
]
QUESTIONS = ["How much did the Tartus work cost?", "What did inflation reach in March?",
             "Who asked the ministry for aid?", "What did the governor say about rates?"]


@pytest.fixture
def make_engine(make_client):
    return lambda **overrides: make_client(**overrides).application.extensions["memo"]


def _stored(engine):
    return {m.id: engine.storage.memos.sentences(m.id) for m in engine.storage.memos.page(_all(), 100, 0)[0]}


def _all():
    from service.types import MemoFilter

    return MemoFilter()


def _answer(engine, question):
    answer, _ = engine.ask(question)
    return (answer.answer, answer.abstained, answer.confidence,
            [(c.memo_id is not None, c.quote, c.start, c.end) for c in answer.citations])


def test_a_deferred_memo_is_stored_with_zero_sentence_vectors_and_searchable_chunks(make_engine):
    engine = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=False)
    memo, created = engine.ingest(MEMOS[0])
    assert created
    rows = engine.storage.memos.sentences(memo.id)
    assert len(rows.spans) == 3 and missing(rows.vectors).all()
    assert engine.storage.memos.unembedded(10) == [memo.id]
    assert engine.health()["vectors"] == engine.health()["chunks"] >= 1  # chunk vectors are there at once


def test_ask_and_brief_of_unfilled_memos_match_an_eager_ingest(make_engine):
    eager = make_engine(DEFER_SENTENCES=False)
    deferred = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=False)
    for text in MEMOS:
        eager.ingest(text)
    deferred.intake.ingest_many([(text, {}) for text in MEMOS])
    assert len(deferred.storage.memos.unembedded(10)) == 3  # nothing filled: readers embed on the spot
    for question in QUESTIONS:
        got, want = _answer(deferred, question), _answer(eager, question)
        assert got == want
        answer, _ = deferred.ask(question)
        for c in answer.citations:  # each citation slices back to the memo's text
            assert deferred.storage.memos.text(c.memo_id)[c.start : c.end] == c.quote
    assert any(not _answer(deferred, q)[1] for q in QUESTIONS)  # not a set of abstentions
    by_hash = {m.content_hash: m.id for m in eager.storage.memos.page(_all(), 100, 0)[0]}
    for memo in deferred.storage.memos.page(_all(), 100, 0)[0]:
        assert (deferred.brief(memo.id, 2, "extractive").sentences
                == eager.brief(by_hash[memo.content_hash], 2, "extractive").sentences)
    assert len(deferred.storage.memos.unembedded(10)) == 3  # reading stores nothing


def test_fill_stores_the_vectors_an_eager_ingest_stores(make_engine):
    eager = make_engine(DEFER_SENTENCES=False)
    deferred = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=False)
    for text in MEMOS:
        eager.ingest(text)
        deferred.ingest(text)
    assert deferred.fill_sentences() == sum(len(r.spans) for r in _stored(eager).values())
    assert deferred.storage.memos.unembedded(10) == []
    assert deferred.fill_sentences() == 0
    want = {eager.storage.memos.get(i).content_hash: r for i, r in _stored(eager).items()}
    for memo_id, rows in _stored(deferred).items():
        other = want[deferred.storage.memos.get(memo_id).content_hash]
        assert rows.spans == other.spans
        np.testing.assert_allclose(rows.vectors, other.vectors, atol=1e-6)


def test_fill_leaves_a_memo_replaced_meanwhile_alone(make_engine):
    engine = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=False)
    memo, _ = engine.ingest(MEMOS[0])
    old = engine.storage.memos.get(memo.id)
    engine.storage.memos.replace(memo.id, engine.prep.embed([engine.prep.draft(MEMOS[1])], sentences=False)[0])
    rows = engine.storage.memos.sentences(memo.id)
    stale = [(*span, np.ones(rows.vectors.shape[1], dtype=np.float32)) for span in rows.spans]
    assert engine.storage.memos.fill_sentences(memo.id, old.content_hash, stale) == 0
    assert missing(engine.storage.memos.sentences(memo.id).vectors).all()
    assert fill_memo(engine.storage, engine.embedder, memo.id) == len(rows.spans)
    assert not missing(engine.storage.memos.sentences(memo.id).vectors).any()


def test_the_filler_fills_once_ingest_is_quiet(make_engine):
    engine = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=True)
    with engine.activity.running():
        engine.ingest(MEMOS[0])
        time.sleep(1.5)  # longer than the filler's quiet period: it must still wait for ingest to end
        assert engine.storage.memos.unembedded(10)
    deadline = time.monotonic() + 10
    while engine.storage.memos.unembedded(10) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine.storage.memos.unembedded(10) == []


def test_an_update_embeds_its_sentences_at_once(make_engine):
    engine = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=False)
    memo, _ = engine.ingest(MEMOS[0])
    engine.update(memo.id, MEMOS[1])
    assert not missing(engine.storage.memos.sentences(memo.id).vectors).any()


def test_eval_reads_filled_sentence_vectors(make_engine):
    from service.evaluation.datasets import Document
    from service.evaluation.runner import ingest_documents

    engine = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=False)
    owners = ingest_documents(engine, [Document(f"d{i}", "", text) for i, text in enumerate(MEMOS)])
    assert sorted(d for ids in owners.values() for d in ids) == ["d0", "d1", "d2"]
    assert engine.sentences_pending() == 0


@pytest.mark.model
def test_minilm_q8_fills_the_very_vectors_an_eager_ingest_stores(make_engine, seed_text):
    """minilm-q8 embeds one text per model run, so a sentence embedded alone later (the filler, or a reader)
    gets the vector it would have got beside the memo's other texts: answers cannot move."""
    real = {"EMBEDDER": "minilm-q8-shared", "ENTITIES": "spacy-shared", "PHRASES": "spacy-shared"}
    eager = make_engine(DEFER_SENTENCES=False, **real)
    deferred = make_engine(DEFER_SENTENCES=True, SENTENCE_FILLER=False, **real)
    want, _ = eager.ingest(seed_text)
    got, _ = deferred.ingest(seed_text)
    question = "When did Russia intervene militarily in Syria?"
    assert _answer(deferred, question) == _answer(eager, question)  # embedded on the spot
    assert not deferred.ask(question)[0].abstained
    assert deferred.fill_sentences() == len(eager.storage.memos.sentences(want.id).spans)
    assert np.array_equal(deferred.storage.memos.sentences(got.id).vectors,
                          eager.storage.memos.sentences(want.id).vectors)
