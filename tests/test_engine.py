"""The engine through the fake embedder: dedupe, update, delete, persistence, index rebuilds, locking."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service import create_app
from service.config import load_config
from service.storage.embedded import INDEX_FILE
from service.engine import build_engine
from service.errors import Conflict, DataDirLocked, NotFound
from service.types import Passage
from service.storage.embedded.vectors.index import VectorIndex, load_index, read_header
from service.retrieval.hybrid import term_weights
from service.types import MemoFilter

MEMO_A = "12 Jan 2024; MEMO: The harbour of Tartus was expanded. Engineers added two new piers for naval ships."
MEMO_B = "The central bank raised interest rates to 5 percent. Inflation had reached 9 percent in March."
MEMO_C = "Wheat harvests fell sharply after the drought. Farmers asked the ministry for emergency aid."


def test_ingest_stores_chunks_sentences_and_vectors(engine):
    memo, created = engine.ingest(MEMO_A, tags=["Navy"])
    assert created and memo.date == "2024-01-12" and memo.type == "memo" and memo.tags == ("navy",)
    counts = engine.health()
    assert counts == {"memos": 1, "chunks": counts["chunks"], "sentences": 2, "vectors": counts["chunks"]}
    assert counts["chunks"] >= 1
    rows = engine.storage.memos.sentences(memo.id)
    vectors = rows.vectors
    assert [memo.text[s:e] for _, s, e in rows.spans] == [
        "The harbour of Tartus was expanded.",
        "Engineers added two new piers for naval ships.",
    ]
    assert vectors.shape == (2, 64)


def test_same_text_is_not_stored_twice(engine):
    first, created = engine.ingest(MEMO_A)
    again, created_again = engine.ingest("  " + MEMO_A + "\r\n", title="other title")
    assert created and not created_again and again.id == first.id
    assert engine.health()["memos"] == 1


def test_delete_removes_memo_chunks_and_vectors(engine):
    a, _ = engine.ingest(MEMO_A)
    b, _ = engine.ingest(MEMO_B)
    engine.delete(a.id)
    assert engine.health() == {"memos": 1, "chunks": engine.health()["chunks"], "sentences": 2,
                               "vectors": engine.health()["chunks"]}
    with pytest.raises(NotFound):
        engine.get(a.id)
    with pytest.raises(NotFound):
        engine.delete(a.id)
    result, _ = engine.ask("harbour of Tartus piers")
    assert all(c.memo_id == b.id for c in result.citations)


def test_update_replaces_text_keeps_given_metadata(engine):
    memo, _ = engine.ingest(MEMO_A, title="Harbour", tags=["navy"])
    updated = engine.update(memo.id, MEMO_B)
    assert updated.id == memo.id and updated.text == MEMO_B
    assert updated.title == "Harbour" and updated.tags == ("navy",)
    assert updated.date is None  # the new text has no header and none was given
    result, _ = engine.ask("interest rates central bank")
    assert result.citations[0].memo_id == memo.id and "interest rates" in result.citations[0].quote
    assert engine.health()["chunks"] == engine.health()["vectors"]


def test_update_rederives_an_automatic_title(engine):
    memo, _ = engine.ingest(MEMO_A)
    assert memo.title == "The harbour of Tartus was expanded."
    assert engine.update(memo.id, MEMO_C).title == "Wheat harvests fell sharply after the drought."


def test_update_to_another_memos_text_conflicts(engine):
    a, _ = engine.ingest(MEMO_A)
    engine.ingest(MEMO_B)
    with pytest.raises(Conflict):
        engine.update(a.id, MEMO_B)
    with pytest.raises(NotFound):
        engine.update("nope", MEMO_C)


def test_filters_restrict_retrieval(engine):
    a, _ = engine.ingest(MEMO_A, tags=["navy"])
    b, _ = engine.ingest(MEMO_B, tags=["economy"], date="2024-03-01")
    result, _ = engine.ask("harbour of Tartus piers", where=MemoFilter(tags=("economy",)))
    assert {c.memo_id for c in result.citations} == {b.id}
    result, _ = engine.ask("harbour of Tartus piers", where=MemoFilter(memo_ids=(a.id,)))
    assert {c.memo_id for c in result.citations} == {a.id}
    result, _ = engine.ask("harbour", where=MemoFilter(date_from="2024-02-01", date_to="2024-12-31"))
    assert {c.memo_id for c in result.citations} == {b.id}
    result, _ = engine.ask("harbour", where=MemoFilter(memo_ids=()))
    assert result.abstained and result.citations == ()


def test_citations_slice_back_to_the_memo_text(engine):
    engine.ingest(MEMO_A)
    engine.ingest(MEMO_B)
    result, memos = engine.ask("What rate did the central bank set?")
    assert not result.abstained
    for c in result.citations:
        assert engine.get(c.memo_id).text[c.start : c.end] == c.quote
    assert set(memos) == {c.memo_id for c in result.citations}


def _search_ids(engine, text):
    vector = engine.embedder.embed([text])[0]
    return engine.storage.keeper.index.search(vector, 10)


def _reopen(app_config):
    app = create_app(app_config)
    return app, app.extensions["memo"]


def test_save_and_load_give_the_same_search_results(config):
    app, engine = _reopen(config)
    for text in (MEMO_A, MEMO_B, MEMO_C):
        engine.ingest(text)
    before = _search_ids(engine, "drought wheat farmers")
    generation = engine.storage.db.generation()
    engine.close()
    header = read_header(Path(config["DATA_DIR"]) / INDEX_FILE)
    assert (header.model, header.dimension, header.count, header.generation) == ("fake-hash", 64, 3, generation)
    app, engine = _reopen(config)
    try:
        assert _search_ids(engine, "drought wheat farmers") == before
    finally:
        engine.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "stale", "missing"])
def test_index_is_rebuilt_from_the_store_when_it_does_not_match(config, damage):
    app, engine = _reopen(config)
    engine.ingest(MEMO_A)
    engine.ingest(MEMO_B)
    path = Path(config["DATA_DIR"]) / INDEX_FILE
    stale = path.read_bytes()
    engine.ingest(MEMO_C)
    expected = _search_ids(engine, "wheat drought")
    engine.close()
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "garbage":
        path.write_bytes(b"not an index at all")
    elif damage == "stale":
        path.write_bytes(stale)  # a valid file from two memos ago: its generation is behind the store
    else:
        path.unlink()
    app, engine = _reopen(config)
    try:
        assert len(engine.storage.keeper.index) == engine.health()["chunks"] == 3
        assert _search_ids(engine, "wheat drought") == expected
    finally:
        engine.close()


def test_load_refuses_a_header_mismatch(tmp_path):
    index = VectorIndex("m", 4)
    index.add([1, 2], np.eye(4, dtype=np.float32)[:2])
    index.save(tmp_path / "i", generation=7)
    ok = load_index(tmp_path / "i", index.header(7))
    assert len(ok) == 2
    from service.errors import IndexMismatch

    for wrong in (index.header(8), VectorIndex("other", 4).header(7)):
        with pytest.raises(IndexMismatch):
            load_index(tmp_path / "i", wrong)


def test_changing_the_embedder_re_embeds_the_store(config):
    app, engine = _reopen(config)
    memo, _ = engine.ingest(MEMO_A)
    engine.close()
    app, engine = _reopen({**config, "EMBEDDER": "fake-2"})
    try:
        assert engine.storage.get_meta("embedder") == "fake-hash-2/64"
        assert read_header(Path(config["DATA_DIR"]) / INDEX_FILE).model == "fake-hash-2"
        result, _ = engine.ask("harbour of Tartus")
        assert result.citations[0].memo_id == memo.id
    finally:
        engine.close()


def test_a_re_embedding_cut_short_is_redone_at_the_next_start_whichever_model_it_has(config, monkeypatch):
    from models import get_embedder
    from service.storage.embedded.repository import SqliteMemos

    app, engine = _reopen(config)
    for text in (MEMO_A, MEMO_B, MEMO_C):
        engine.ingest(text)
    engine.close()
    real_replace, calls = SqliteMemos.replace, []

    def crash_after_one(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt("stopped during the re-embedding")
        return real_replace(self, *args, **kwargs)

    monkeypatch.setattr(SqliteMemos, "replace", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        _reopen({**config, "EMBEDDER": "fake-reversed"})  # one memo now holds the other model's vectors
    monkeypatch.setattr(SqliteMemos, "replace", real_replace)

    app, engine = _reopen(config)  # back to the first model: that memo must not keep the other's vectors
    try:
        assert engine.storage.get_meta("embedder") == "fake-hash/64"
        fake = get_embedder("fake")
        for memo in engine.list(MemoFilter(), 10, 0)[0]:
            chunks = engine.storage.chunks.refs(engine.storage.chunks.ids(MemoFilter(memo_ids=(memo.id,))).tolist())
            stored = engine.storage.chunks.vectors(list(chunks))
            text = engine.get(memo.id).text
            for chunk in chunks.values():
                assert np.allclose(stored[chunk.id], fake.embed([text[chunk.start:chunk.end]])[0], atol=1e-6)
        assert engine.health()["chunks"] == engine.health()["vectors"] == len(engine.storage.keeper.index)
    finally:
        engine.close()


def test_a_second_engine_on_the_same_data_dir_is_refused(engine, config):
    with pytest.raises(DataDirLocked, match="in use"):
        build_engine(load_config(config))


def test_seeding_happens_once(tmp_path, config):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "one.txt").write_text(MEMO_A)
    cfg = {**config, "SEEDS_DIR": str(seeds)}
    app, engine = _reopen(cfg)
    assert engine.health()["memos"] == 1
    memo = engine.list(MemoFilter(), 10, 0)[0][0]
    assert memo.source == "one.txt"
    engine.delete(memo.id)
    engine.close()
    app, engine = _reopen(cfg)
    try:
        assert engine.health()["memos"] == 0  # a user's deletion is not undone by re-seeding
    finally:
        engine.close()


def test_brief_is_cached_by_content_hash(engine):
    memo, _ = engine.ingest(MEMO_A + " " + MEMO_B + " " + MEMO_C)
    first = engine.brief(memo.id, 2)
    assert engine.storage.briefs.get(memo.content_hash, first.method, 2) is not None
    assert engine.brief(memo.id, 2) == first
    assert engine.brief_text(memo.text, 2) == first


def test_term_weights_follow_every_write(engine):
    first, _ = engine.ingest(MEMO_A)
    engine.ingest(MEMO_B)
    alone = term_weights(engine.storage.chunks, ["harbour", "rate"])
    assert alone == term_weights(engine.storage.chunks, ["rate", "harbour"])  # served again, same figures
    assert alone["harbour"] == alone["rate"]  # one chunk each
    second, _ = engine.ingest("The harbour of Latakia was dredged. Ships can dock again.")
    shared = term_weights(engine.storage.chunks, ["harbour", "rate", "unseen"])
    assert shared["harbour"] < alone["harbour"] and shared["rate"] > alone["rate"]  # 2 of 3 chunks vs 1 of 3
    assert shared["unseen"] > shared["rate"]
    engine.delete(second.id)
    assert term_weights(engine.storage.chunks, ["harbour", "rate"]) == alone


def test_bm25_leaves_out_words_most_chunks_hold_unless_none_would_be_left(engine, monkeypatch):
    import service.retrieval.hybrid as retrieval

    for text in (MEMO_A, MEMO_B, MEMO_C, "A report on the harbour of Latakia. The report names no ships."):
        engine.ingest("Weekly report. " + text)
    monkeypatch.setattr(retrieval, "LEXICAL_FLOOR", 0)  # a real store needs more than 1000 chunks
    words = retrieval.query_words("Which report mentions the harbour?")
    assert words == ["report", "mentions", "harbour"]
    # "report" is in all 4 chunks, "harbour" in 2, "mentions" in none
    assert retrieval.selective_words(words, engine.storage.chunks, 0.6) == ["mentions", "harbour"]
    assert retrieval.selective_words(words, engine.storage.chunks, 0.4) == ["mentions"]
    assert retrieval.selective_words(["report"], engine.storage.chunks, 0.4) == ["report"]  # nothing else to ask
    assert retrieval.selective_words(words, engine.storage.chunks, None) == words
    # the BM25-only mode is the plain baseline memo eval reports: every word, so all 4 chunks match
    assert len(engine.search("Which report mentions the harbour?", k=10, mode="bm25")) == 4
    monkeypatch.setattr(retrieval, "LEXICAL_FLOOR", 4)
    assert retrieval.selective_words(words, engine.storage.chunks, 0.4) == words  # a small store keeps every word


def test_the_reader_gets_the_memo_lead_and_the_neighbours_of_its_best_sentence(engine):
    from service.answer.generative import GenerativeSettings, context_for
    from service.retrieval.passages import surroundings

    text = ("Acme names a new chief. The board met on Monday. It chose Jane Roe. She starts in May. "
            "Shares rose. Analysts were pleased. The office moves in June.")
    memo, _ = engine.ingest(text)
    rows = engine.storage.memos.sentences(memo.id)
    spans = [(s, e) for _, s, e in rows.spans]
    best = Passage(memo.id, *spans[2], text[slice(*spans[2])], rows.vectors[2], 0.9)
    around = surroundings(engine.storage.memos, engine.embedder, best, 1, 1)
    assert [p.text for p in around] == ["Acme names a new chief.", "The board met on Monday.", "It chose Jane Roe.",
                                        "She starts in May."]
    assert all(text[p.start:p.end] == p.text for p in around) and around[2] is best
    # a passage read before its memo changed keeps to itself
    engine.update(memo.id, text.replace("Jane Roe", "John Doe"))
    assert surroundings(engine.storage.memos, engine.embedder, best, 1, 1) == [best]
    # what the model reads: the best sentence's surroundings, then the other best-scored sentences, a block
    # per memo in text order; nothing below the score floor
    other = Passage("other", 0, 5, "Other", rows.vectors[0], 0.1)
    settings = GenerativeSettings(sentences=3, neighbours=1, lead=1, min_score=0.3)
    blocks = context_for([(0.8, best), (0.7, other), (0.5, around[0]), (0.2, around[3])], settings,
                         lambda p, n, lead: around if p is best else [p])
    assert blocks == [around, [other]]
    assert context_for([(0.2, best)], settings) == []
    # reading nothing around the best sentence (the default) fetches nothing around it

    def no_fetch(p, n, lead):
        raise AssertionError("surroundings fetched although none are read")

    assert context_for([(0.8, best), (0.7, other)], GenerativeSettings(), no_fetch) == [[best], [other]]
