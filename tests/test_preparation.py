"""Embedding at ingest: an embedder with ``embed_with_spans`` runs on chunks only and the sentence vectors
come from its spans; one without it embeds sentences and chunks apart; changing the way re-embeds."""
from __future__ import annotations

import numpy as np
import pytest

from models.embedder import IN_CONTEXT_SPANS, provenance
from models.nlp import NoEntities, SentenceSplitter
from models.onnx_embedder import token_ranges
from service import create_app
from service.chunking import Chunk
from service.ingest import prepare_memo
from service.preparation import Cut, Preparer
from tests.fakes import HashEmbedder, SpanHashEmbedder

# Six sentences of 7-9 words: with 20-word chunks and one sentence of overlap they make several chunks.
MEMO = ("The harbour of Tartus was expanded last spring. Engineers added two new piers for naval ships. "
        "The central bank raised interest rates to five percent. Inflation had reached nine percent in March. "
        "Wheat harvests fell sharply after the long drought. Farmers asked the ministry for emergency aid.")


def _preparer(embedder) -> Preparer:
    return Preparer(embedder, SentenceSplitter(), NoEntities(), chunk_tokens=20, chunk_overlap=1, max_memo_chars=10_000)


def test_with_spans_only_the_chunks_go_through_the_model():
    embedder = SpanHashEmbedder()
    prep = _preparer(embedder)
    prepared = prep.prepare(MEMO)
    text = prepared.draft.text
    assert len(prepared.chunks) > 1 and any(a.last == b.first for a, b in zip(prepared.chunks, prepared.chunks[1:]))
    assert embedder.seen == [text[c.start : c.end] for c in prepared.chunks]
    assert prepared.sentence_vectors.shape == (len(prepared.sentences), 64)
    assert np.allclose(np.linalg.norm(prepared.sentence_vectors, axis=1), 1, atol=1e-5)


def test_without_spans_sentences_and_chunks_are_embedded_apart_to_the_same_vectors():
    plain, spans = HashEmbedder(), SpanHashEmbedder()
    a, b = _preparer(plain).prepare(MEMO), _preparer(spans).prepare(MEMO)
    text = a.draft.text
    assert plain.seen == [text[s:e] for s, e in a.sentences] + [text[c.start : c.end] for c in a.chunks]
    # the span fake's span vector is its text's own vector, so both ways agree exactly
    assert a.sentences == b.sentences and a.chunks == b.chunks
    assert np.allclose(a.sentence_vectors, b.sentence_vectors, atol=1e-6)
    assert np.allclose(a.chunk_vectors, b.chunk_vectors)


def test_a_sentence_in_two_chunks_gets_the_normalised_mean_of_its_two_vectors():
    draft = prepare_memo("One two. Three four. Five six.", split=SentenceSplitter().spans, max_chars=100)
    sentences = [(0, 8), (9, 20), (21, 30)]
    cut = Cut(draft, sentences, [Chunk(0, 20, 0, 1), Chunk(9, 30, 1, 2)])
    assert cut.chunk_spans() == [[(0, 8), (9, 20)], [(0, 11), (12, 21)]]
    e = np.eye(3, dtype=np.float32)
    vectors = cut.sentence_vectors([np.stack([e[0], e[1]]), np.stack([e[2], e[0]])])
    assert np.allclose(vectors, [[1, 0, 0], [0, np.sqrt(0.5), np.sqrt(0.5)], [1, 0, 0]])


def test_token_ranges_cover_the_tokens_a_span_overlaps_and_skip_special_tokens():
    # [CLS] "the"(0,3) "harb"(4,8) "##our"(8,11) "."(11,12) "it"(13,15) [SEP]
    offsets = [(0, 0), (0, 3), (4, 8), (8, 11), (11, 12), (13, 15), (0, 0)]
    special = [1, 0, 0, 0, 0, 0, 1]
    assert token_ranges(offsets, special, [(0, 12), (13, 15), (5, 9), (16, 20)]) == [(1, 5), (5, 6), (2, 4), (0, 0)]


def test_provenance_names_the_way_sentence_vectors_are_made():
    assert provenance(HashEmbedder()) == "fake-hash/64"
    assert provenance(SpanHashEmbedder()) == f"fake-hash/64/{IN_CONTEXT_SPANS}"


@pytest.mark.parametrize("first, then", [("fake-plain", "fake"), ("fake", "fake-plain")])
def test_switching_between_span_and_plain_embedding_re_embeds_the_store(config, first, then):
    app = create_app({**config, "EMBEDDER": first})
    engine = app.extensions["memo"]
    memo, _ = engine.ingest(MEMO)
    old_chunks = set(engine.store.chunk_id_array().tolist())
    engine.close()
    app = create_app({**config, "EMBEDDER": then})
    engine = app.extensions["memo"]
    try:
        assert engine.store.get_meta("embedder") == provenance(engine.embedder)
        assert not old_chunks & set(engine.store.chunk_id_array().tolist()), "every chunk was embedded again"
        assert engine.health()["vectors"] == engine.health()["chunks"]
        result, _ = engine.ask("What did farmers ask the ministry for?")
        assert result.citations[0].memo_id == memo.id and "emergency aid" in result.citations[0].quote
    finally:
        engine.close()
