"""Header parsing, normalisation, titles, hashes and file decoding."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.nlp.sentences import SentenceSplitter
from service.errors import InvalidInput
from service.ingest.parse import Header, clean_tags, content_hash, find_memo_files, make_title, normalise_text, parse_header, prepare_memo, read_memo_bytes

SPLIT = SentenceSplitter().spans


@pytest.mark.parametrize(
    "text, expected",
    [
        ("16 Mar 2023; MEMO: Syrian President", Header("2023-03-16", "memo", 19)),
        ("3 March 2021; PRESS RELEASE: Body", Header("2021-03-03", "press release", 29)),
        ("March 16, 2023 - NOTE: Body", Header("2023-03-16", "note", 23)),
        ("2023-03-16; MEMO: Body", Header("2023-03-16", "memo", 18)),
        ("16 Mar 2023: Body text", Header("2023-03-16", None, 13)),
        ("16 Mar 2023\nBody text", Header("2023-03-16", None, 11)),
        ("No header here. 16 Mar 2023; MEMO:", Header(None, None, 0)),
        ("31 Feb 2023; MEMO: impossible date", Header(None, None, 0)),
        ("16 Mar 2023 was a good day", Header(None, None, 0)),
    ],
)
def test_parse_header(text, expected):
    assert parse_header(text) == expected


def test_seed_header_becomes_metadata_and_title_is_first_sentence(seed_text):
    draft = prepare_memo(seed_text, split=SPLIT, max_chars=10_000)
    assert (draft.date, draft.type) == ("2023-03-16", "memo")
    assert draft.title.startswith("Syrian President, Bashar Al-Assad, has told")
    assert len(draft.title) <= 140
    assert draft.text[draft.body_start :].startswith("Syrian President")
    # the first sentence starts after the header, and offsets index the stored text
    s, e = draft.sentences[0]
    assert draft.text[s:e].startswith("Syrian President") and draft.text[s:e].endswith("war-torn country.")


def test_explicit_metadata_wins_over_header(seed_text):
    draft = prepare_memo(seed_text, split=SPLIT, max_chars=10_000, title=" My  title ", date="2024-01-02",
                         tags=["Syria", "syria ", "Russia"], source=" file.txt ")
    assert draft.title == "My title"
    assert draft.date == "2024-01-02"
    assert draft.tags == ("syria", "russia")
    assert draft.source == "file.txt"


def test_normalise_and_hash_are_stable():
    assert normalise_text("\ufeff a\r\nb\rc \x00") == "a\nb\nc"
    assert content_hash("a\nb") == content_hash(normalise_text("a\r\nb  "))
    assert content_hash("a") != content_hash("b")


@pytest.mark.parametrize("text", ["", "   \n\t", "... --- !!!"])
def test_empty_or_letterless_memos_are_refused(text):
    with pytest.raises(InvalidInput):
        prepare_memo(text, split=SPLIT, max_chars=100)


def test_too_long_memo_is_refused():
    with pytest.raises(InvalidInput, match="limit"):
        prepare_memo("word " * 100, split=SPLIT, max_chars=50)


def test_bad_date_is_refused():
    with pytest.raises(InvalidInput):
        prepare_memo("Some text.", split=SPLIT, max_chars=100, date="16/03/2023")


def test_make_title_cuts_at_a_word():
    title = make_title("word " * 100)
    assert len(title) <= 140 and title.endswith("\u2026") and "wor\u2026" not in title


def test_clean_tags():
    assert clean_tags(["  A  b ", "a b", "", "C"]) == ("a b", "c")


def test_read_memo_bytes():
    assert read_memo_bytes("caf\u00e9".encode()) == "caf\u00e9"
    assert read_memo_bytes(b"\xef\xbb\xbfhello") == "hello"
    with pytest.raises(InvalidInput, match="UTF-8"):
        read_memo_bytes(b"\xff\xfeabc")
    with pytest.raises(InvalidInput, match="binary"):
        read_memo_bytes(b"PNG\x00\x00\x01")


def test_find_memo_files(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("b")
    (tmp_path / "c.png").write_bytes(b"x")
    assert [p.name for p in find_memo_files([tmp_path])] == ["a.txt", "b.md"]
    with pytest.raises(InvalidInput):
        find_memo_files([tmp_path / "missing"])


@given(st.text(min_size=1, max_size=300))
def test_header_end_and_sentences_stay_inside_the_text(text):
    header = parse_header(text)
    assert 0 <= header.end <= len(text)
    try:
        draft = prepare_memo(text, split=SPLIT, max_chars=1000)
    except InvalidInput:
        return
    for s, e in draft.sentences:
        assert 0 <= s < e <= len(draft.text)
        assert draft.text[s:e] == draft.text[s:e].strip()


@pytest.mark.parametrize(
    "text, title",
    [
        ("# Port of Tartus reopened\n\nRussian engineers finished the repairs. Ships docked.", "Port of Tartus reopened"),
        ("## Naval update ##\nThe frigates left port.", "Naval update"),
        ("   ### Three marks\nBody.", "Three marks"),
        ("#hashtag is not a heading. More text.", "#hashtag is not a heading."),
        ("4 Feb 2024; MEMO: # Tartus reopened\nThe piers were rebuilt.", "Tartus reopened"),
    ],
)
def test_a_markdown_heading_gives_the_title_without_its_marks(text, title):
    draft = prepare_memo(text, split=SPLIT, max_chars=10_000)
    assert draft.title == title
    assert draft.text == text.strip()  # the stored text keeps its Markdown


def test_a_bare_heading_mark_is_left_alone():
    assert make_title("#") == "#"
