"""Races and damage: concurrent writers, reads during updates, index files that lie, interrupted saves."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.storage.embedded import INDEX_FILE
from service.errors import IndexMismatch, NotFound
from service.storage.embedded.vectors.index import VectorIndex, load_index, read_header
from service.types import MemoFilter
from tests.test_engine import MEMO_A, MEMO_B, MEMO_C, _reopen, _search_ids

OLD = "The harbour of Tartus was expanded. Engineers added two new piers for naval ships."
NEW = "Short. The harbour of Tartus was expanded again, with more piers for naval ships and barges."


def _in_thread(fn, *args):
    """Run ``fn`` in another thread (its own SQLite connection) and wait for it."""
    errors = []

    def run():
        try:
            fn(*args)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert not errors, errors


def _assert_consistent(engine):
    """Store and index agree exactly: same count, same ids."""
    assert len(engine.storage.keeper.index) == engine.storage.counts()["chunks"]
    assert np.array_equal(engine.storage.keeper.index.ids(), engine.storage.chunks.all_ids())


def test_identical_posts_racing_store_one_memo(engine, monkeypatch):
    barrier = threading.Barrier(2, timeout=10)
    embed = engine.embedder.embed

    def slow_embed(texts):
        barrier.wait()  # both requests have passed the first duplicate check before either stores
        return embed(texts)

    monkeypatch.setattr(engine.embedder, "embed", slow_embed)
    results = []
    threads = [threading.Thread(target=lambda: results.append(engine.ingest(MEMO_A))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].id == results[1][0].id
    assert engine.health()["memos"] == 1
    _assert_consistent(engine)


def test_update_of_a_memo_deleted_meanwhile_is_404_and_leaves_nothing_behind(engine, monkeypatch):
    memo, _ = engine.ingest(MEMO_A)
    prepare = engine.prep.prepare

    def prepare_then_lose_the_race(text, **meta):
        prepared = prepare(text, **meta)
        engine.delete(memo.id)  # lands while the new text is being embedded
        return prepared

    monkeypatch.setattr(engine.prep, "prepare", prepare_then_lose_the_race)
    with pytest.raises(NotFound):
        engine.update(memo.id, MEMO_B)
    assert engine.health() == {"memos": 0, "chunks": 0, "sentences": 0, "vectors": 0}
    _assert_consistent(engine)


@pytest.fixture
def updated_mid_read(engine, monkeypatch):
    """A memo with OLD text that gets updated to NEW (by another thread) the first time a reader asks the
    store for its sentences. Yields ``(memo, old sentence spans, fired)``."""
    memo, _ = engine.ingest(OLD)
    old_spans = {(s, e) for _, s, e in engine.storage.memos.sentences(memo.id).spans}
    sentences = engine.storage.memos.sentences
    fired = []

    def sentences_after_an_update(*args, **kwargs):
        if not fired:
            fired.append(True)
            _in_thread(engine.update, memo.id, NEW)
        return sentences(*args, **kwargs)

    monkeypatch.setattr(engine.storage.memos, "sentences", sentences_after_an_update)
    yield memo, old_spans, fired


def test_ask_reads_one_version_of_a_memo_updated_mid_answer(engine, updated_mid_read):
    memo, old_spans, fired = updated_mid_read
    result, _ = engine.ask("harbour of Tartus piers for naval ships")
    assert fired and engine.get(memo.id).text == NEW
    assert result.citations
    for c in result.citations:
        # every quote is a whole sentence of one version: the old text with the old offsets
        assert (c.start, c.end) in old_spans and c.quote == OLD[c.start : c.end], c


def test_brief_reads_one_version_of_a_memo_updated_mid_brief(engine, updated_mid_read, monkeypatch):
    memo, old_spans, fired = updated_mid_read
    brief = engine.brief(memo.id, 2)
    assert fired
    for s in brief.sentences:
        assert (s.start, s.end) in old_spans and s.text == OLD[s.start : s.end]
    monkeypatch.undo()
    fresh = engine.brief(memo.id, 2)
    assert all(s.text == NEW[s.start : s.end] for s in fresh.sentences)


def test_summarising_text_whose_stored_copy_was_just_deleted_still_briefs(engine, monkeypatch):
    memo, _ = engine.ingest(MEMO_A)
    brief = engine.brief

    def deleted_meanwhile(memo_id, n, *mode):
        engine.delete(memo_id)
        return brief(memo_id, n, *mode)

    monkeypatch.setattr(engine, "brief", deleted_meanwhile)
    assert engine.brief_text(MEMO_A, 1).sentences


def test_concurrent_writers_keep_store_and_index_in_step(engine):
    texts = [f"Memo {i} about {w}. The {w} report was filed on day {i}." for i, w in
             enumerate(["ports", "wheat", "rates", "fuel", "rail", "power"] * 5)]
    errors: list[BaseException] = []

    def worker(mine):
        try:
            for text in mine:
                memo, _ = engine.ingest(text)
                engine.update(memo.id, text + " An addendum followed.")
                engine.ask("report filed")
                if len(text) % 2:
                    engine.delete(memo.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(texts[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    kept = [t for t in texts if len(t) % 2 == 0]
    assert engine.health()["memos"] == len(kept)
    _assert_consistent(engine)


# -- index files that lie ------------------------------------------------------------------------


def _three_memos(config):
    """A closed data dir holding MEMO_A..C: (index path, search ids for "wheat drought", chunk ids)."""
    _, engine = _reopen(config)
    try:
        for text in (MEMO_A, MEMO_B, MEMO_C):
            engine.ingest(text)
        return Path(config["DATA_DIR"]) / INDEX_FILE, _search_ids(engine, "wheat drought"), engine.storage.chunks.all_ids()
    finally:
        engine.close()


@pytest.mark.parametrize("damage", ["flip-a-payload-byte", "tiny", "other-ids", "version-1"])
def test_a_damaged_or_foreign_index_is_rebuilt(config, damage):
    path, expected, ids = _three_memos(config)
    header = read_header(path)
    if damage == "flip-a-payload-byte":
        raw = bytearray(path.read_bytes())
        raw[-5] ^= 0xFF  # the header still matches the store: only the checksum can tell
        path.write_bytes(bytes(raw))
    elif damage == "tiny":
        path.write_bytes(path.read_bytes()[:10])
    elif damage == "other-ids":
        # right count, generation and checksum, but not the store's chunks
        liar = VectorIndex(header.model, header.dimension)
        liar.add(ids + 1000, np.eye(header.dimension, dtype=np.float32)[: len(ids)])
        liar.save(path, header.generation)
    else:
        raw = path.read_bytes().replace(b'"format_version": 2', b'"format_version": 1')
        path.write_bytes(raw)
    app, engine = _reopen(config)
    try:
        _assert_consistent(engine)
        assert _search_ids(engine, "wheat drought") == expected
        assert read_header(path).checksum
    finally:
        engine.close()


def test_temporary_files_of_an_interrupted_save_are_removed_on_start(config):
    path, _, _ = _three_memos(config)
    leftover = path.parent / f"{INDEX_FILE}.abc123.tmp"
    leftover.write_bytes(b"half a save")
    app, engine = _reopen(config)
    try:
        assert not leftover.exists()
        _assert_consistent(engine)
    finally:
        engine.close()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_an_index_mismatch_never_a_crash(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("idx") / "i"
    path.write_bytes(data)
    with pytest.raises(IndexMismatch):
        load_index(path, VectorIndex("m", 4).header(0))


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, 10_000), byte=st.integers(0, 10_000))
def test_a_cut_or_flipped_index_file_is_refused(tmp_path_factory, cut, byte):
    path = tmp_path_factory.mktemp("idx") / "i"
    index = VectorIndex("m", 4)
    index.add([1, 2, 3], np.eye(4, dtype=np.float32)[:3])
    index.save(path, generation=5)
    raw = path.read_bytes()
    assert len(load_index(path, index.header(5))) == 3
    cut %= len(raw)
    byte %= len(raw)
    flipped = bytearray(raw)
    flipped[byte] ^= 0x01
    for damaged in (raw[:cut], bytes(flipped)):
        path.write_bytes(damaged)
        try:
            loaded = load_index(path, index.header(5))
        except IndexMismatch:
            continue
        # a flip inside the JSON header can leave it equivalent (e.g. a space); the payload must be intact
        assert np.array_equal(loaded.ids(), [1, 2, 3]) and damaged != raw[:cut]


def test_snapshot_reads_see_one_state_and_do_not_block_writers(engine):
    engine.ingest(MEMO_A)
    with engine.storage.snapshot():
        before = engine.list(MemoFilter(), 10, 0)[1]
        _in_thread(engine.ingest, MEMO_B)  # a writer commits while this read transaction is open
        assert engine.list(MemoFilter(), 10, 0)[1] == before == 1
    assert engine.list(MemoFilter(), 10, 0)[1] == 2
