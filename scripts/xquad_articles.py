"""XQuAD dev with whole articles as memos: each article's paragraphs joined (blank line between, in order)
into one context, answer offsets moved to match. The held-out QA set asks over full news articles; this is
the nearest the dev data comes to it (24 articles of ~3,900 characters instead of 120 paragraphs).
Writes JSONL in the ``memo eval qa`` format; keep the output outside the repository.

    .venv/bin/python scripts/xquad_articles.py ../shared/eval/qa_xquad_dev.jsonl /tmp/xquad_articles.jsonl
    MEMO_LLM=none .venv/bin/memo eval qa /tmp/xquad_articles.jsonl
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


SEPARATOR = "\n\n"  # between an article's paragraphs


def article_of(doc_id: str) -> str:
    """``xquad:07-03`` (article 07, paragraph 03) -> ``xquad:07``."""
    return doc_id.rsplit("-", 1)[0]


def join_articles(rows: list[dict]) -> list[dict]:
    """The rows with each context replaced by its whole article and the answer offsets moved into it."""
    paragraphs: dict[str, str] = {}
    for row in rows:
        paragraphs.setdefault(row["doc_id"], row["context"])
    articles: dict[str, list[str]] = {}
    for doc_id in sorted(paragraphs):
        articles.setdefault(article_of(doc_id), []).append(doc_id)
    texts: dict[str, str] = {}
    offsets: dict[str, int] = {}
    for article, doc_ids in articles.items():
        position = 0
        for doc_id in doc_ids:
            offsets[doc_id] = position
            position += len(paragraphs[doc_id]) + len(SEPARATOR)
        texts[article] = SEPARATOR.join(paragraphs[d] for d in doc_ids)
    out = []
    for row in rows:
        article, shift = article_of(row["doc_id"]), offsets[row["doc_id"]]
        starts = [s + shift for s in row.get("answer_starts", [])]
        for start, answer in zip(starts, row["answers"]):
            if texts[article][start : start + len(answer)] != answer:
                raise ValueError(f"{row['doc_id']}: answer {answer!r} is not at its offset in the article")
        out.append({**row, "doc_id": article, "context": texts[article], "answer_starts": starts})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="XQuAD dev JSONL (../shared/eval/qa_xquad_dev.jsonl)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.source.read_text(encoding="utf-8").splitlines() if line.strip()]
    joined = join_articles(rows)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in joined), encoding="utf-8")
    print(f"{len(joined)} questions over {len({r['doc_id'] for r in joined})} articles -> {args.out}")


if __name__ == "__main__":
    main()
