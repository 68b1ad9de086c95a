"""scripts/xquad_articles.py: paragraphs joined into their article, answer offsets moved with them."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "xquad_articles", Path(__file__).resolve().parents[1] / "scripts" / "xquad_articles.py")
xquad_articles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(xquad_articles)


def _row(doc_id, context, answer, question="q?"):
    return {"doc_id": doc_id, "context": context, "question": question, "answers": [answer],
            "answer_starts": [context.index(answer)]}


def test_paragraphs_join_in_order_and_answers_stay_found():
    rows = [_row("xquad:01-01", "Second paragraph names Oslo.", "Oslo"),
            _row("xquad:01-00", "First paragraph, year 1905.", "1905"),
            _row("xquad:02-00", "Another article about Bergen.", "Bergen")]
    joined = xquad_articles.join_articles(rows)
    article = "First paragraph, year 1905.\n\nSecond paragraph names Oslo."
    assert [r["doc_id"] for r in joined] == ["xquad:01", "xquad:01", "xquad:02"]
    assert joined[0]["context"] == joined[1]["context"] == article
    for row in joined:
        start = row["answer_starts"][0]
        assert row["context"][start : start + len(row["answers"][0])] == row["answers"][0]


def test_an_answer_off_its_offset_is_refused():
    bad = {**_row("xquad:03-00", "Text with Paris in it.", "Paris"), "answer_starts": [0]}
    with pytest.raises(ValueError, match="not at its offset"):
        xquad_articles.join_articles([bad])
