"""Long-memo news QA sets for ``memo eval qa``, built from the news-quiz snippets and BBC articles of
``../shared/eval`` (written to a path outside the repository: the data is not ours to copy).

Each question's snippet (the quiz's own short explanation, which holds the answer) becomes part of a memo
about the length of a news article, so that the reader has to find the answer in a long memo among
other people, places and numbers, as in a real archive:

- ``lead``: the snippet is the memo's first paragraph and other BBC stories' paragraphs follow it (the
  inverted pyramid: the answer near the top);
- ``digest``: a memo of several stories, the snippet in the middle between two other stories' leads.

Questions are split by a stable hash of their id into ``dev`` (3/4, to tune on) and ``check`` (1/4, to
confirm on, never tuned on).

    python scripts/news_sets.py --layout lead --n 200 --out /tmp/news/lead_dev.jsonl
    memo eval qa /tmp/news/lead_dev.jsonl --json /tmp/news/lead_dev.result.json
"""
from __future__ import annotations

import argparse
import json
import random
import zlib
from pathlib import Path

WORDS = 650  # about a news article (the held-out CNN articles' median is ~710 words)


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def part_of(qid: str) -> str:
    return "check" if zlib.crc32(qid.encode()) % 4 == 0 else "dev"


def paragraphs(article: dict) -> list[str]:
    return [p.strip() for p in article["document"].split("\n") if p.strip()]


def fill(paras: list[str], words: int) -> list[str]:
    out, count = [], 0
    for p in paras:
        if count >= words:
            break
        out.append(p)
        count += len(p.split())
    return out


def memo_text(snippet: str, articles: list[dict], layout: str, rng: random.Random) -> str:
    if layout == "lead":
        body = fill(paragraphs(rng.choice(articles)), WORDS - len(snippet.split()))
        return "\n\n".join([snippet, *body])
    before, after = rng.sample(articles, 2)
    return "\n\n".join([*fill(paragraphs(before), WORDS // 3), snippet, *fill(paragraphs(after), WORDS // 3)])


def build(eval_dir: Path, layout: str, n: int, part: str, seed: int) -> list[dict]:
    questions = [r for r in _jsonl(eval_dir / "qa_news_snippets_dev.jsonl")
                 if part_of(str(r["qid"])) == part
                 and any(a.lower() in r["context"].lower() for a in r["answers"])]
    articles = _jsonl(eval_dir / "summ_bbc_dev.jsonl")
    rng = random.Random(seed)
    chosen = rng.sample(questions, min(n, len(questions)))
    return [{"doc_id": f"{layout}:{r['qid']}", "qid": f"{layout}:{r['qid']}", "title": "",
             "context": memo_text(r["context"], articles, layout, rng), "question": r["question"],
             "answers": r["answers"]} for r in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval")
    parser.add_argument("--layout", choices=["lead", "digest"], default="lead")
    parser.add_argument("--part", choices=["dev", "check"], default="dev")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = build(args.eval_dir, args.layout, args.n, args.part, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} questions ({args.layout}, {args.part}) -> {args.out}")


if __name__ == "__main__":
    main()
