"""Sentence spans and chunks: exact offsets, token bounds, overlap."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from models.nlp.sentences import SentenceSplitter
from service.types import Chunk
from service.ingest.chunking import bound_sentences, chunk_sentences


def words(texts):
    return [len(t.split()) for t in texts]


def test_sentence_spans_exact():
    text = "Title line\n\nDr. Smith went to Washington. He arrived on Jan. 5 and left.\n  Next para?  Yes!"
    spans = SentenceSplitter().spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Title line",
        "Dr. Smith went to Washington.",
        "He arrived on Jan. 5 and left.",
        "Next para?",
        "Yes!",
    ]
    assert spans[1] == (12, 41)


def test_spans_from_an_offset_are_absolute():
    text = "HEADER: one two. Three four."
    spans = SentenceSplitter().spans(text, 8)
    assert [text[s:e] for s, e in spans] == ["one two.", "Three four."]


def test_chunks_pack_sentences_with_one_sentence_overlap():
    sentences = [(0, 10), (11, 20), (21, 30), (31, 40), (41, 50)]
    counts = [4, 4, 4, 4, 4]
    chunks = chunk_sentences(sentences, counts, max_tokens=12, overlap=1)
    assert chunks == [Chunk(0, 30, 0, 2), Chunk(21, 50, 2, 4)]


def test_chunks_without_overlap():
    chunks = chunk_sentences([(0, 5), (6, 10), (11, 15)], [5, 5, 5], max_tokens=10, overlap=0)
    assert chunks == [Chunk(0, 10, 0, 1), Chunk(11, 15, 2, 2)]


def test_overlap_is_skipped_when_it_would_only_repeat():
    # the overlap sentence plus the next one do not fit: start afresh instead of a 1-sentence repeat
    chunks = chunk_sentences([(0, 5), (6, 10), (11, 15)], [3, 6, 6], max_tokens=10, overlap=1)
    assert chunks == [Chunk(0, 10, 0, 1), Chunk(11, 15, 2, 2)]


def test_long_sentence_is_split_into_bounded_pieces():
    text = " ".join(f"w{i}" for i in range(100)) + "."
    spans, counts = bound_sentences(text, [(0, len(text))], words, max_tokens=30)
    assert len(spans) >= 4
    assert all(c <= 30 for c in counts)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    rebuilt = " ".join(text[s:e] for s, e in spans)
    assert rebuilt == text


def test_one_giant_word_is_cut_by_characters():
    text = "x" * 5000
    spans, counts = bound_sentences(text, [(0, 5000)], lambda ts: [len(t) // 4 for t in ts], max_tokens=100)
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(c <= 100 for c in counts)


@settings(max_examples=200)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=40), st.integers(10, 80), st.integers(0, 2))
def test_chunks_cover_every_sentence_in_order(counts, max_tokens, overlap):
    sentences = []
    pos = 0
    for n in counts:
        sentences.append((pos, pos + n))
        pos += n + 1
    chunks = chunk_sentences(sentences, counts, max_tokens, overlap)
    covered = set()
    for prev, chunk in zip([None, *chunks], chunks):
        assert chunk.start == sentences[chunk.first][0] and chunk.end == sentences[chunk.last][1]
        assert sum(counts[chunk.first : chunk.last + 1]) <= max_tokens or chunk.first == chunk.last
        if prev is not None:
            assert prev.first < chunk.first and prev.last < chunk.last
        covered.update(range(chunk.first, chunk.last + 1))
    assert covered == set(range(len(sentences)))
