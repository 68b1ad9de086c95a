"""Index kind by size: Flat while small, IVF beyond the threshold, with deletes, filters, saves and catch-up."""
from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from models.embedders.batching import length_batches
from service.storage.embedded import INDEX_FILE
from service.storage.embedded import EmbeddedSettings
from service.storage.embedded.vectors.index import MAGIC, VectorIndex, load_index, read_header, read_index
from service.storage.embedded.vectors.kinds import FLAT, IVF, IndexPolicy, train_ivf
from service.storage.embedded.vectors.saver import IndexSaver
from service.types import MemoFilter
from tests.test_engine import _reopen, _search_ids

DIM = 32


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres, like embeddings of texts on a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIM))
    x = centres[rng.integers(0, 40, n)] + 0.4 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _ivf(vectors: np.ndarray, ids: np.ndarray, nprobe: int = 8) -> VectorIndex:
    index = VectorIndex("m", DIM, train_ivf(vectors, 32, nprobe), IVF, len(vectors))
    index.add(ids, vectors)
    return index


def test_the_policy_picks_flat_then_ivf_and_regrows():
    policy = IndexPolicy(flat_max=1000, regrow=4)
    assert policy.kind_for(1000) == FLAT and policy.kind_for(1001) == IVF
    assert policy.needs_rebuild(FLAT, 0, 1001) and not policy.needs_rebuild(FLAT, 0, 1000)
    assert not policy.needs_rebuild(IVF, 2000, 8000) and policy.needs_rebuild(IVF, 2000, 8001)
    # back to Flat only well below the threshold
    assert not policy.needs_rebuild(IVF, 2000, 600) and policy.needs_rebuild(IVF, 2000, 499)


def test_ivf_finds_what_exact_search_finds_and_deletes_in_place():
    vectors, ids = _clustered(3000), np.arange(10, 3010, dtype=np.int64)
    flat, ivf = VectorIndex("m", DIM), _ivf(vectors, ids)
    flat.add(ids, vectors)
    queries = _clustered(50, seed=1)
    recall = np.mean([len({i for i, _ in flat.search(q, 10)} & {i for i, _ in ivf.search(q, 10)}) / 10 for q in queries])
    assert recall >= 0.9
    gone = [i for i, _ in ivf.search(queries[0], 5)]
    assert ivf.remove(gone) == 5 and len(ivf) == 2995
    assert not set(gone) & {i for i, _ in ivf.search(queries[0], 20)}
    assert np.array_equal(ivf.ids(), np.setdiff1d(ids, gone))


def test_a_filtered_ivf_search_finds_the_allowed_ids_even_outside_the_probed_lists():
    vectors, ids = _clustered(3000), np.arange(3000, dtype=np.int64)
    ivf = _ivf(vectors, ids, nprobe=1)
    query = vectors[0]
    # the ten vectors least like the query sit in lists a 1-probe search never opens
    allowed = np.argsort(vectors @ query)[:10]
    found = {i for i, _ in ivf.search(query, 10, allowed=allowed)}
    assert found == set(allowed.tolist())


def test_an_ivf_index_round_trips_with_its_kind_in_the_header(tmp_path):
    vectors, ids = _clustered(2000), np.arange(2000, dtype=np.int64)
    ivf = _ivf(vectors, ids)
    ivf.save(tmp_path / "i", generation=3)
    header = read_header(tmp_path / "i")
    assert (header.kind, header.nlist, header.nprobe, header.trained_for) == (IVF, 32, 8, 2000)
    loaded = load_index(tmp_path / "i", ivf.header(3))
    assert loaded.kind == IVF and loaded.search(vectors[5], 3) == ivf.search(vectors[5], 3)


def test_a_header_that_lies_about_the_kind_is_refused(tmp_path):
    from service.errors import IndexMismatch

    flat = VectorIndex("m", DIM)
    flat.add([1, 2], _clustered(2))
    flat.save(tmp_path / "i", generation=1)
    raw = (tmp_path / "i").read_bytes()
    size = struct.unpack("<I", raw[len(MAGIC) : len(MAGIC) + 4])[0]
    body = raw[len(MAGIC) + 4 :]
    header = json.loads(body[:size])
    header["kind"] = IVF  # the checksum still matches: only the payload's type can tell
    lie = json.dumps(header).encode()
    (tmp_path / "i").write_bytes(MAGIC + struct.pack("<I", len(lie)) + lie + body[size:])
    with pytest.raises(IndexMismatch, match="header says ivf-flat-ip"):
        read_index(tmp_path / "i")


def _memo(i: int) -> str:
    topics = ["wheat harvest drought", "port of Tartus repairs", "central bank interest rates", "election turnout"]
    return f"Report {i} on {topics[i % 4]}. The {topics[i % 4]} figures for week {i} were published."


def test_the_engine_moves_to_ivf_past_the_threshold_and_keeps_deletes_and_updates_working(config):
    config = {**config, "INDEX_FLAT_MAX": 40, "INDEX_NPROBE": 4}
    app, engine = _reopen(config)
    try:
        memos = [engine.ingest(_memo(i))[0] for i in range(30)]
        assert engine.storage.keeper.index.kind == FLAT
        memos += [engine.ingest(_memo(i))[0] for i in range(30, 60)]
        assert engine.storage.keeper.index.kind == IVF and len(engine.storage.keeper.index) == engine.health()["chunks"]
        engine.delete(memos[0].id)
        engine.update(memos[1].id, "A new text about the wheat harvest and rainfall in the north.")
        assert np.array_equal(engine.storage.keeper.index.ids(), engine.storage.chunks.all_ids())
        result, _ = engine.ask("rainfall in the north")
        assert result.citations[0].memo_id == memos[1].id
        expected = _search_ids(engine, "port of Tartus")
    finally:
        engine.close()
    assert read_header(Path(config["DATA_DIR"]) / INDEX_FILE).kind == IVF
    app, engine = _reopen(config)
    try:
        assert engine.storage.keeper.index.kind == IVF and _search_ids(engine, "port of Tartus") == expected
    finally:
        engine.close()


def test_a_stale_index_file_is_caught_up_from_the_store_not_rebuilt(config, caplog):
    app, engine = _reopen(config)
    for i in range(3):
        engine.ingest(_memo(i))
    engine.close()
    path = Path(config["DATA_DIR"]) / INDEX_FILE
    stale = path.read_bytes()
    app, engine = _reopen(config)
    doomed = engine.list(MemoFilter(), 1, 0)[0][0]
    engine.delete(doomed.id)
    engine.ingest(_memo(7))
    expected = _search_ids(engine, "wheat harvest")
    engine.close()
    path.write_bytes(stale)
    with caplog.at_level("INFO"):
        app, engine = _reopen(config)
    try:
        assert "catching the index up" in caplog.text and "rebuilding" not in caplog.text
        assert np.array_equal(engine.storage.keeper.index.ids(), engine.storage.chunks.all_ids())
        assert _search_ids(engine, "wheat harvest") == expected
    finally:
        engine.close()


def test_the_saver_writes_in_the_background_and_on_stop():
    saved = []
    saver = IndexSaver(lambda: saved.append(1), interval=0.05)
    saver.changed()
    deadline = time.monotonic() + 5
    while not saved and time.monotonic() < deadline:
        time.sleep(0.01)
    assert saved == [1]
    saver.stop()
    assert saved == [1], "nothing changed since: no second save"
    now = IndexSaver(lambda: saved.append(2), interval=0)
    now.changed()
    assert saved == [1, 2]
    later = IndexSaver(lambda: saved.append(3), interval=3600)
    later.changed()
    later.stop()
    assert saved == [1, 2, 3]


def test_length_batches_group_similar_lengths_within_both_limits():
    lengths = [5, 120, 7, 6, 118, 300, 9]
    batches = length_batches(lengths, max_batch=3, max_tokens=360)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 360
    assert batches[0] == [0, 3, 2] and [5] in batches  # shortest first; the 300 alone
    assert length_batches([], 4, 100) == []


def test_ingest_many_embeds_a_batch_of_memos_in_one_call(config):
    app, engine = _reopen({**config, "INGEST_BATCH": 8})
    calls = []
    embed = engine.embedder.embed
    engine.prep.embedder = type("Counting", (), {"embed": lambda self, t: calls.append(len(t)) or embed(t),
                                                 "count_tokens": engine.embedder.count_tokens})()
    try:
        items = [(_memo(i), {}) for i in range(10)] + [(_memo(3), {}), ("   ", {})]
        results = engine.intake.ingest_many(items, skip_invalid=True)
        assert len(calls) == 2, calls  # 8 memos, then the other 2 (repeats and invalid texts embed nothing)
        assert [created for _, created in results] == [True] * 10 + [False, False]
        assert results[10][0].id == results[3][0].id and results[11][0] is None
        assert engine.health()["memos"] == 10
    finally:
        engine.close()


def test_engine_settings_default_to_the_measured_policy():
    assert EmbeddedSettings(Path("x")).index == IndexPolicy()
