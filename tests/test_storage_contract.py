"""One contract for every storage backend: the same memos stored in each give the same results (rankings
compared by which chunks and memos come back, not by score). Runs the embedded backend and PostgreSQL."""
from __future__ import annotations

import numpy as np
import pytest

from models.nlp.entities import Entity
from service import create_app
from service.errors import Conflict, NotFound
from service.retrieval.lexical import stem
from service.types import MemoFilter

MEMOS = [
    ("Putin met Assad in Moscow to discuss a naval base at Tartus on the Mediterranean. The Kremlin said the "
     "talks on the base went well.", {"date": "2023-03-16", "tags": ["syria", "defence"]}),
    ("The central bank raised interest rates again to fight inflation. Analysts expect the ministry to cut "
     "spending next year.", {"date": "2022-11-02", "tags": ["economy"]}),
    ("Wheat harvests in Ukraine fell sharply because of the war. Grain exports through the Black Sea were "
     "blocked for months.", {"date": "2022-08-20", "tags": ["economy", "food"]}),
    ("Assad thanked Putin for the military support in Syria. Russian troops will stay at the Tartus base.",
     {"date": "2021-05-01", "tags": ["syria"]}),
    ("A memo without a date about renewable energy: solar panels and wind turbines now supply a third of "
     "the grid's power.", {"tags": ["energy"]}),
]


@pytest.fixture(params=["embedded", "postgres"])
def engine(request, config):
    overrides = {}
    if request.param == "postgres":
        overrides["DATABASE_URL"] = request.getfixturevalue("database_url")
    app = create_app({**config, **overrides})
    engine = app.extensions["memo"]
    assert engine.storage.backend == ("postgres" if request.param == "postgres" else "sqlite")
    yield engine
    engine.close()


@pytest.fixture
def stored(engine):
    """The memos above, stored in order, their entities read (ingest defers them: the engine reads them before
    a filter needs them, tests/test_deferred_entities.py; these tests read the store below it); their ids."""
    ids = [engine.ingest(text, **meta)[0].id for text, meta in MEMOS]
    engine.fill_entities()
    return ids


def _prepared(engine, text, **meta):
    return engine.prep.prepare(text, **meta)


def test_add_dedupes_by_content_hash(engine):
    first, created = engine.storage.memos.add("m1", _prepared(engine, MEMOS[0][0], **MEMOS[0][1]))
    assert created and first.id == "m1" and first.tags == ("syria", "defence")
    again, created = engine.storage.memos.add("m2", _prepared(engine, MEMOS[0][0], **MEMOS[0][1]))
    assert not created and again.id == "m1"
    assert engine.storage.memos.get("m2") is None
    assert engine.storage.memos.get("m1") == first
    assert engine.storage.memos.find_by_hash(first.content_hash) == first
    assert engine.storage.counts()["memos"] == 1


def test_replace_and_delete(engine, stored):
    memos, chunks = engine.storage.memos, engine.storage.chunks
    old_chunks = [i for i, _ in chunks.lexical(["wheat"], 10, MemoFilter())]
    assert {chunks.refs(old_chunks)[i].memo_id for i in old_chunks} == {stored[2]}
    engine.storage.briefs.put(memos.get(stored[2]).content_hash, "extractive", 3, {"x": 1})
    new = memos.replace(stored[2], _prepared(engine, "Rice prices rose in Asia after a poor monsoon.", tags=["food"]))
    assert new.id == stored[2] and new.tags == ("food",) and new.text.startswith("Rice")
    assert chunks.lexical(["wheat"], 10, MemoFilter()) == []
    assert chunks.refs(old_chunks) == {} and chunks.vectors(old_chunks) == {}
    assert [chunks.refs([i])[i].memo_id for i, _ in chunks.lexical(["monsoon"], 10, MemoFilter())] == [stored[2]]
    with pytest.raises(Conflict):
        memos.replace(stored[2], _prepared(engine, MEMOS[0][0]))
    with pytest.raises(NotFound):
        memos.replace("nope", _prepared(engine, "Some new text about nothing in particular."))
    assert memos.delete(stored[0]) and not memos.delete(stored[0])
    assert memos.get(stored[0]) is None and memos.text(stored[0]) is None
    found = [chunks.refs([i])[i].memo_id for i, _ in chunks.lexical(["tartus"], 10, MemoFilter())]
    assert found == [stored[3]]
    assert stored[0] not in {chunks.refs([i])[i].memo_id for i, _ in chunks.dense(
        engine.embedder.embed(["Putin Assad Tartus base"])[0], 10, MemoFilter())}
    counts = engine.storage.counts()
    assert counts["memos"] == 4 and counts["chunks"] == counts["vectors"] > 0


def test_reads(engine, stored):
    memos = engine.storage.memos
    memo = memos.get(stored[0])
    assert memo.text == MEMOS[0][0] and memo.date == "2023-03-16" and memo.chars == len(memo.text)
    assert memos.text(stored[1]) == MEMOS[1][0]
    infos = memos.infos([stored[1], stored[3], "missing", stored[1]])
    assert set(infos) == {stored[1], stored[3]} and infos[stored[3]].tags == ("syria",)
    page, total = memos.page(MemoFilter(), 10, 0)
    assert total == 5 and [m.id for m in page] == [stored[0], stored[1], stored[2], stored[3], stored[4]]
    page, total = memos.page(MemoFilter(), 2, 1)
    assert total == 5 and [m.id for m in page] == [stored[1], stored[2]]
    for where, expected in [
        (MemoFilter(tags=("ECONOMY",)), [stored[1], stored[2]]),
        (MemoFilter(date_from="2022-01-01", date_to="2022-12-31"), [stored[1], stored[2]]),
        (MemoFilter(entities=("putin",)), [stored[0], stored[3]]),
        (MemoFilter(entities=("put",)), []),
        (MemoFilter(memo_ids=(stored[4], stored[0])), [stored[0], stored[4]]),
        (MemoFilter(memo_ids=()), []),
        (MemoFilter(tags=("syria",), date_from="2022-01-01"), [stored[0]]),
    ]:
        page, total = memos.page(where, 10, 0)
        assert [m.id for m in page] == expected and total == len(expected), where


def test_sentences(engine, stored):
    memo = engine.storage.memos.get(stored[0])
    rows = engine.storage.memos.sentences(stored[0])
    assert [s[0] for s in rows.spans] == [0, 1]
    assert memo.text[rows.spans[1][1] : rows.spans[1][2]].startswith("The Kremlin")
    assert rows.vectors.shape == (2, engine.embedder.dimension) and rows.vectors.dtype == np.float32
    engine.fill_sentences()  # ingest deferred them (service.ingest.deferred); the filler may not have run yet
    rows = engine.storage.memos.sentences(stored[0])
    expected = engine.embedder.embed([memo.text[s:e] for _, s, e in rows.spans])
    assert np.allclose(rows.vectors, expected, atol=1e-6)
    last = engine.storage.memos.sentences(stored[0], 1, 1)
    assert last.spans == rows.spans[1:] and np.allclose(last.vectors, rows.vectors[1:])
    assert engine.storage.memos.sentences("missing").vectors.shape == (0, engine.embedder.dimension)


def test_deferred_sentence_vectors(engine):
    if engine.filler is not None:
        engine.filler.stop()  # this test fills by hand
    memos = engine.storage.memos
    memo, _ = memos.add("m1", engine.prep.embed([engine.prep.draft(MEMOS[0][0])], sentences=False)[0])
    memos.add("m2", _prepared(engine, MEMOS[1][0]))
    rows = memos.sentences("m1")
    assert memos.unembedded(10) == ["m1"] and len(rows.spans) == 2 and not rows.vectors.any()
    vectors = engine.embedder.embed([memo.text[s:e] for _, s, e in rows.spans])
    filled = [(*span, v) for span, v in zip(rows.spans, vectors)]
    assert memos.fill_sentences("m1", "another text's hash", filled) == 0
    moved = [(i, s + 1, e, v) for i, s, e, v in filled]
    assert memos.fill_sentences("m1", memo.content_hash, moved) == 0  # spans that are no longer there
    assert memos.fill_sentences("m1", memo.content_hash, filled[:1]) == 1
    assert memos.unembedded(10) == ["m1"]
    assert memos.fill_sentences("m1", memo.content_hash, filled) == 1  # only the row still empty
    assert memos.unembedded(10) == []
    assert np.allclose(memos.sentences("m1").vectors, vectors, atol=1e-6)


def test_facets(engine, stored):
    facets = engine.storage.memos.facets(MemoFilter(), 3)
    assert facets.total == 5
    assert [(c.value, c.memos) for c in facets.years] == [("2023", 1), ("2022", 2), ("2021", 1), (None, 1)]
    assert [(c.value, c.memos) for c in facets.tags] == [("economy", 2), ("syria", 2), ("defence", 1),
                                                          ("energy", 1), ("food", 1)]
    top = [(e.text, e.memos) for e in facets.entities]
    assert top[:2] == [("Assad", 2), ("Putin", 2)] and len(top) == 3
    narrow = engine.storage.memos.facets(MemoFilter(tags=("economy",)), 5)
    assert narrow.total == 2 and [(c.value, c.memos) for c in narrow.tags] == [("economy", 2), ("food", 1)]


def _memos_of(engine, hits):
    refs = engine.storage.chunks.refs([i for i, _ in hits])
    return [refs[i].memo_id for i, _ in hits]


def test_dense_search_with_filters(engine, stored):
    chunks = engine.storage.chunks
    query = engine.embedder.embed(["Putin Assad Tartus naval base"])[0]
    hits = chunks.dense(query, 10, MemoFilter())
    assert len(hits) == engine.storage.counts()["chunks"]
    assert set(_memos_of(engine, hits[:2])) == {stored[0], stored[3]}
    assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))
    vectors = chunks.vectors([hits[0][0]])
    assert np.isclose(float(vectors[hits[0][0]] @ query), hits[0][1], atol=1e-5)
    narrow = chunks.dense(query, 3, MemoFilter(tags=("energy",)))
    assert _memos_of(engine, narrow) == [stored[4]] * len(narrow) and narrow
    assert _memos_of(engine, chunks.dense(query, 5, MemoFilter(memo_ids=(stored[1],)))) == [stored[1]]
    assert chunks.dense(query, 5, MemoFilter(memo_ids=())) == []
    dated = chunks.dense(query, 10, MemoFilter(date_to="2022-01-01", entities=("assad",)))
    assert set(_memos_of(engine, dated)) == {stored[3]}


def test_lexical_search_and_frequencies(engine, stored):
    chunks = engine.storage.chunks
    hits = chunks.lexical(["tartus", "base"], 10, MemoFilter())
    assert _memos_of(engine, hits) == [stored[0], stored[3]]
    assert hits[0][1] > hits[1][1] > 0
    assert _memos_of(engine, chunks.lexical(["tartus"], 10, MemoFilter(date_to="2022-01-01"))) == [stored[3]]
    assert _memos_of(engine, chunks.lexical(["economy", "inflation", "grain"], 10,
                                            MemoFilter(tags=("food",)))) == [stored[2]]
    assert chunks.lexical(["zzzunknown"], 10, MemoFilter()) == []
    total, df = chunks.frequencies([stem("tartus"), stem("base"), stem("nothing")])
    assert total == engine.storage.counts()["chunks"]
    assert df == {stem("tartus"): 2, stem("base"): 2, stem("nothing"): 0}


def test_lexical_scores_agree_across_backends(request, config):
    """Both backends score BM25 alike: same scores (to float precision), not just the same chunks."""
    results = []
    for backend in ("embedded", "postgres"):
        overrides = {"DATA_DIR": f"{config['DATA_DIR']}-{backend}"}
        if backend == "postgres":
            overrides["DATABASE_URL"] = request.getfixturevalue("database_url")
        app = create_app({**config, **overrides})
        engine = app.extensions["memo"]
        try:
            ids = [engine.ingest(text, **meta)[0].id for text, meta in MEMOS]
            position = {memo_id: i for i, memo_id in enumerate(ids)}
            hits = engine.storage.chunks.lexical(["assad", "base", "grain", "the"], 10, MemoFilter())
            results.append([(position[m], round(s, 9)) for m, (_, s) in zip(_memos_of(engine, hits), hits)])
        finally:
            engine.close()
    assert results[0] == results[1] and len(results[0]) >= 3


def _oldest_first(engine, ids):
    """Memo ids as both backends queue them: by creation time (to the second), then id."""
    return sorted(ids, key=lambda m: (engine.storage.memos.get(m).created_at, m))


def test_entities(engine, stored):
    entities = engine.storage.entities
    names = [e.text for e in entities.of_memo(stored[3])]
    assert names == ["Assad", "Putin", "Syria", "Tartus"]
    assert entities.stale("fake-lexicon") == []
    memo = engine.storage.memos.get(stored[3])
    oldest = _oldest_first(engine, stored)
    assert [m for m, _ in entities.stale("other")] == oldest
    assert entities.put(stored[3], [Entity("Moscow", "GPE", 0, 6)], "other", memo.content_hash)
    assert [e.text for e in entities.of_memo(stored[3])] == ["Moscow"]
    assert not entities.put(stored[3], [], "other", "another-hash")
    assert [m for m, _ in entities.stale("other")] == [m for m in oldest if m != stored[3]]


def test_brief_cache_and_queue(engine, stored):
    briefs, memos = engine.storage.briefs, engine.storage.memos
    oldest = _oldest_first(engine, stored)
    assert briefs.next_pending("m", 3, set()) == oldest[0]
    hashes = [memos.get(m).content_hash for m in oldest]
    briefs.put(hashes[0], "m", 3, {"sentences": ["a"], "n": 1})
    assert briefs.get(hashes[0], "m", 3) == {"sentences": ["a"], "n": 1}
    assert briefs.get(hashes[0], "m", 2) is None
    briefs.put(hashes[0], "m", 3, {"n": 2})
    assert briefs.get(hashes[0], "m", 3) == {"n": 2}
    assert briefs.next_pending("m", 3, set()) == oldest[1]
    assert briefs.next_pending("m", 3, {oldest[1], oldest[2]}) == oldest[3]
    assert briefs.next_pending("m", 2, set()) == oldest[0]


def test_jobs(engine):
    jobs = engine.storage.jobs
    engine.jobs.stop()  # the store alone here, not the runner
    job = jobs.create("j1", [("text one", {"title": "a"}), ("text two", {}), ("text three", {})])
    assert (job.status, job.total, job.items) == ("queued", 3, ("queued",) * 3)
    assert jobs.unfinished() == ["j1"]
    assert [(i.index, i.text, i.meta) for i in jobs.pending("j1", 2)] == [(0, "text one", {"title": "a"}),
                                                                           (1, "text two", {})]
    jobs.finish_items("j1", [(0, "m1", None), (1, None, "too short")])
    job = jobs.get("j1")
    assert (job.status, job.done, job.failed, job.memo_ids) == ("running", 1, 1, ("m1", None, None))
    assert job.errors == ({"index": 1, "error": "too short"},)
    assert [i.index for i in jobs.pending("j1", 5)] == [2]
    jobs.finish_items("j1", [(2, "m3", None)])
    assert jobs.get("j1").status == "done" and jobs.unfinished() == [] and jobs.get("nope") is None
    jobs.finish_items("j1", [(0, None, "a late second report"), (2, "m9", None)])  # only queued items change
    job = jobs.get("j1")
    assert (job.status, job.memo_ids, job.errors) == ("done", ("m1", None, "m3"), ({"index": 1, "error": "too short"},))


def test_snapshot_and_meta(engine, stored):
    storage = engine.storage
    storage.set_meta("k", "v1")
    storage.set_meta("k", "v2")
    assert storage.get_meta("k") == "v2" and storage.get_meta("missing") is None
    with storage.snapshot():
        before = storage.memos.page(MemoFilter(), 10, 0)[1]
        assert storage.counts()["memos"] == before == 5
    assert storage.status()["lexical_index"] in {"ready", "filling"}
