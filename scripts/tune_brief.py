"""Sweep the lead brief's word budget on a summarisation dev file, with a guard against tuning to rows.

Scores each ``words_per_sentence`` with the code the service uses (``service.brief.lead``) on the even and
the odd rows apart, against every reference and against the first one alone (a single human summary, as
most news test sets have), beside Lead-3 from the same sentence splitter. Only the embedder's tokenizer
runs (sentences are bounded to 128 tokens as stored ones are).
    .venv/bin/python scripts/tune_brief.py ../shared/eval/summ_cnndm_dev.jsonl
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from statistics import mean

from models import get_embedder
from models.nlp.sentences import SentenceSplitter
from service.brief.key_sentences import BriefSettings
from service.brief.lead import make_lead_brief
from service.evaluation import metrics
from service.evaluation.datasets import read_summaries
from service.ingest.chunking import bound_sentences
from service.ingest.parse import prepare_memo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--count", type=int, default=3, help="the brief's max_sentences")
    args = parser.parse_args()
    splitter, rouge, embedder = SentenceSplitter(), metrics.Rouge(), get_embedder("minilm")
    docs = []
    for item in read_summaries(args.file)[: args.limit]:
        draft = prepare_memo(item.document, split=splitter.spans, max_chars=10**7)
        spans, _ = bound_sentences(draft.text, draft.sentences, embedder.count_tokens, 128)
        refs = [[r[s:e] for s, e in splitter.spans(r)] for r in item.references]
        lead3 = [item.document[s:e] for s, e in splitter.spans(item.document)[: args.count]]
        docs.append((draft.text, spans, refs, lead3))

    def table(summarise) -> str:
        cells = []
        for refs_used in ("all", "first"):
            for half in (0, 1):
                rows = docs[half::2]
                value = mean(rouge.score(summarise(d), d[2] if refs_used == "all" else d[2][:1])["rouge2"] for d in rows)
                cells.append(f"{value:.4f}")
        return "  ".join(cells)

    print("ROUGE-2 on rows even / odd, all references, then the first reference only")
    print(f"lead-3            {table(lambda d: d[3])}")
    for words in (16, 18, 20, 22, 24, 26, 30, 100):
        settings = replace(BriefSettings(), words_per_sentence=words)
        brief = lambda d, s=settings: [x.text for x in make_lead_brief(d[0], d[1], args.count, s).sentences]  # noqa: E731
        print(f"{words:3} words/sent.  {table(brief)}")


if __name__ == "__main__":
    main()
