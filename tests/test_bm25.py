"""The embedded backend's in-memory BM25 copy (service/storage/embedded/bm25.py) against SQLite FTS5 on the same store: same ranks and scores,
kept in step with writes, including writes that land while it fills."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.retrieval.lexical import index_terms, query_terms
from service.storage.embedded.bm25 import Bm25Index
from service.config import load_config
from service.engine import build_engine
from service.retrieval.hybrid import query_words
from service.storage.embedded.filters import filter_sql
from service.types import MemoFilter

SEED = next(Path(__file__).resolve().parents[1].joinpath("seeds").glob("*.txt")).read_text(encoding="utf-8")
OTHERS = [
    "12 Jan 2024; MEMO: The harbour of Tartus was expanded. Engineers added two new piers for naval ships.",
    "The central bank raised interest rates to 5 percent. Inflation had reached 9 percent in March. "
    "The bank said rates would stay high while inflation stayed above 4 percent.",
    "Wheat harvests fell sharply after the drought. Farmers asked the ministry for emergency aid. "
    "The ministry said the harbour would take grain ships first.",
]


class _Lexical:
    """The embedded backend's two BM25 paths side by side: the copy (through ``ChunkSearch.lexical``) and FTS5."""

    def __init__(self, engine) -> None:
        self.fts = engine.storage.fts
        self.chunks = engine.storage.chunks

    def lexical_search(self, words, k, where):
        return self.chunks.lexical(words, k, where)

    def fts_search(self, words, k, where):
        return self.fts.fts_search(words, k, None if where.is_empty() else filter_sql(where))

    def term_frequencies(self, stems):
        return self.fts.frequencies(stems)

    def fts_frequencies(self, stems):
        return self.fts.fts_frequencies(stems)

    def bm25_ready(self):
        return self.fts.ready()

    def wait_for_bm25(self, timeout):
        return self.fts.wait(timeout)

    def start_bm25(self):
        self.fts.start()

    def chunk_ids(self, where):
        return self.chunks.ids(where)

    def get_chunks(self, ids):
        return self.chunks.refs(ids)


def _queries(text: str) -> list[list[str]]:
    """Every sentence of ``text`` as a question's BM25 words, and windows of three of its words."""
    sentences = [s for s in text.replace("\n", " ").split(". ") if s.strip()]
    queries = [query_words(s) for s in sentences]
    flat = [w for q in queries for w in q]
    queries += [flat[i : i + 3] for i in range(0, len(flat), 3)]
    return [q for q in queries if q and query_terms(q) is not None]


def _assert_same(store, queries, where=None, k=20):
    where = where or MemoFilter()
    for words in queries:
        ours, fts = store.lexical_search(words, k, where), store.fts_search(words, k, where)
        assert [i for i, _ in ours] == [i for i, _ in fts], words
        assert np.allclose([s for _, s in ours], [s for _, s in fts], rtol=1e-9, atol=1e-9), words


@pytest.fixture
def filled(engine):
    ids = [engine.ingest(SEED)[0].id] + [engine.ingest(t)[0].id for t in OTHERS]
    assert _Lexical(engine).wait_for_bm25(30)
    return engine, ids


def test_same_ranks_and_scores_as_fts5(filled):
    engine, _ = filled
    queries = _queries(SEED + " " + " ".join(OTHERS))
    assert len(queries) > 30
    _assert_same(_Lexical(engine), queries)


def _assert_same_frequencies(store, text):
    stems = sorted({t for t in index_terms(text)} | {"absent", "nowhere"})
    ours, fts = store.term_frequencies(stems), store.fts_frequencies(stems)
    assert store.bm25_ready() and ours == fts and ours[1]["harbour"] > 0 and ours[1]["nowhere"] == 0


def test_same_term_frequencies_as_fts5(filled):
    engine, ids = filled
    _assert_same_frequencies(_Lexical(engine), SEED + " " + " ".join(OTHERS))
    engine.delete(ids[2])
    engine.ingest("Grain ships waited outside the harbour. The drought cut wheat exports by half.")
    _assert_same_frequencies(_Lexical(engine), SEED + " " + " ".join(OTHERS))


def test_follows_adds_updates_and_deletes(filled):
    engine, ids = filled
    engine.update(ids[1], "The harbour of Tartus was closed for repairs. Naval ships moved to Latakia.")
    engine.delete(ids[2])
    engine.ingest("Grain ships waited outside the harbour. The drought cut wheat exports by half.")
    queries = _queries(SEED + " " + " ".join(OTHERS)) + [["harbour", "ships"], ["latakia"], ["inflation"]]
    _assert_same(_Lexical(engine), queries)
    assert _Lexical(engine).lexical_search(["inflation"], 5, MemoFilter()) == []  # only the deleted memo had it


def test_filters_apply(filled):
    engine, ids = filled
    where = MemoFilter(memo_ids=(ids[0], ids[3]))
    _assert_same(_Lexical(engine), [["harbour", "ships"], ["ministry", "grain"]], where)
    chunk_ids = {c for c in _Lexical(engine).chunk_ids(where)}
    assert {i for i, _ in _Lexical(engine).lexical_search(["harbour"], 10, where)} <= chunk_ids


def test_words_fts5_reads_as_phrases_go_to_fts5(filled):
    engine, _ = filled
    assert query_terms(["tartus's", "harbour"]) is None
    words = ["tartus's", "harbour"]
    assert _Lexical(engine).lexical_search(words, 10, MemoFilter()) == _Lexical(engine).fts_search(words, 10, MemoFilter())


def test_fts5_answers_until_the_copy_is_filled(config, monkeypatch):
    engine = build_engine(load_config(config))  # no server: nothing starts the filler before a search
    try:
        engine.ingest(OTHERS[0])
        store = _Lexical(engine)
        monkeypatch.setattr(store.fts, "start", lambda: None)
        found = store.lexical_search(["harbour"], 5, MemoFilter())
        assert not store.bm25_ready() and found == store.fts_search(["harbour"], 5, MemoFilter()) and found
        monkeypatch.undo()
        assert store.wait_for_bm25(30) and store.lexical_search(["harbour"], 5, MemoFilter()) == found
    finally:
        engine.close()


def test_writes_during_the_fill_are_neither_lost_nor_counted_twice():
    index = Bm25Index()
    index.remove([5])  # a delete committed after the filler's snapshot was read
    index.add([(7, "grain ships")])  # an add the snapshot also holds
    index.build([(5, "grain harbour"), (6, "harbour"), (7, "grain ships")])
    assert len(index) == 2
    assert [i for i, _ in index.search(["grain"], 10)] == [7]
    assert [i for i, _ in index.search(["harbour"], 10)] == [6]
    fresh = Bm25Index()
    fresh.build([(6, "harbour"), (7, "grain ships")])
    assert index.search(["grain", "ship", "harbour"], 10) == fresh.search(["grain", "ship", "harbour"], 10)


def test_compaction_keeps_results():
    rng = np.random.default_rng(0)
    vocabulary = [f"word{i}" for i in range(50)]
    texts = {i: " ".join(rng.choice(vocabulary, 12)) for i in range(3000)}
    index = Bm25Index()
    index.build(texts.items())
    index.remove(range(0, 2500))  # enough dead postings to compact
    assert index._dead == 0
    fresh = Bm25Index()
    fresh.build((i, t) for i, t in texts.items() if i >= 2500)
    for q in (["word1"], ["word2", "word3"], vocabulary[:10]):
        assert index.search([index_terms(w)[0] for w in q], 20) == fresh.search([index_terms(w)[0] for w in q], 20)


def test_concurrent_writes_while_filling_end_in_step_with_fts5(config):
    """Writers add, update and delete on their own threads while the copy fills and readers search; at the
    end the copy and FTS5 agree on every query."""
    import random
    import threading

    engine = build_engine(load_config(config))
    try:
        base = [engine.ingest(f"Memo {i}. {OTHERS[i % 3]} Item {i} of the harbour list.")[0].id for i in range(40)]
        store, errors = _Lexical(engine), []

        def write(seed: int) -> None:
            rng = random.Random(seed)
            try:
                for j in range(15):
                    memo = engine.ingest(f"Writer {seed} memo {j}. {rng.choice(OTHERS)} Grain {j} ships.")[0]
                    if j % 3 == 0:
                        engine.update(memo.id, f"Writer {seed} memo {j} updated. Latakia harbour {j}.")
                    if j % 4 == 0:
                        engine.delete(memo.id)
                engine.delete(base[seed])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def read() -> None:
            for _ in range(30):
                store.lexical_search(["harbour", "grain"], 10, MemoFilter())

        threads = [threading.Thread(target=write, args=(s,)) for s in range(3)] + [threading.Thread(target=read)]
        store.start_bm25()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert store.wait_for_bm25(30)
        _assert_same(store, [["harbour"], ["grain", "ships"], ["latakia", "updated"], ["writer", "memo"],
                             ["item", "list"], ["inflation", "rates"]], k=200)
    finally:
        engine.close()


def test_terms_are_the_ones_sqlite_fts5_indexes():
    """``stem`` is SQLite's Porter (with the ``logi``/``bli`` rules PyStemmer's lacks) and ``index_terms``
    FTS5's tokenizer, checked against SQLite itself on the seed memo's words and known hard cases."""
    import re
    import sqlite3

    words = sorted(set(re.findall(r"[^\W_]+", SEED.lower())) | {
        "technology", "technologies", "possibly", "incredibly", "assembly", "methodology", "humbly", "ably",
        "biology", "ecology", "visibly", "us", "uk", "gdańsk", "café", "naïve", "running", "generalizations"})
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(b, tokenize='porter unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
    conn.executemany("INSERT INTO f(rowid, b) VALUES (?, ?)", list(enumerate(words, 1)))
    indexed: dict[int, list[str]] = {}
    for term, doc in conn.execute("SELECT term, doc FROM v ORDER BY doc, offset"):
        indexed.setdefault(doc, []).append(term)
    assert len(words) > 150
    assert {w: index_terms(w) for w in words} == {w: indexed[i] for i, w in enumerate(words, 1)}
    body = " ".join(words)
    conn.execute("INSERT INTO f(rowid, b) VALUES (0, ?)", (body,))
    assert index_terms(body) == [t for t, in conn.execute("SELECT term FROM v WHERE doc = 0 ORDER BY offset")]


def test_possessives_are_dropped_from_bm25_words(filled):
    """FTS5 would read ``tartus's`` as the phrase ``tartus s`` and find only "Tartus's"; the word is ``tartus``."""
    engine, ids = filled
    assert query_words("What was Tartus's role in the navy's plans?") == ["tartus", "role", "navy", "plans"]
    found = _Lexical(engine).lexical_search(query_words("Tartus's piers"), 10, MemoFilter())
    chunks = _Lexical(engine).get_chunks([i for i, _ in found])
    assert ids[1] in {c.memo_id for c in chunks.values()}  # "The harbour of Tartus was expanded..."


def test_a_failed_fill_leaves_fts5_answering(config, monkeypatch, caplog):
    def broken(self, rows, batch=1000):
        raise MemoryError("no room")

    monkeypatch.setattr(Bm25Index, "build", broken)
    engine = build_engine(load_config(config))
    try:
        engine.ingest(OTHERS[0])
        store = _Lexical(engine)
        store.start_bm25()
        store.fts._filler.join(10)
        assert not store.bm25_ready() and "filling the in-memory BM25 failed" in caplog.text
        found = store.lexical_search(["harbour"], 5, MemoFilter())
        assert found and found == store.fts_search(["harbour"], 5, MemoFilter())
    finally:
        engine.close()
