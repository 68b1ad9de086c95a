"""Grid-search the extractive brief's settings on a summarisation dev file (ROUGE against Lead-3).

Embeds every document's sentences once, then scores each setting with the same code the service uses.
    .venv/bin/python scripts/tune_brief.py ../shared/eval/summ_cnndm_dev.jsonl
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from models import get_embedder
from models.nlp.sentences import SentenceSplitter
from service.evaluation import metrics
from service.brief.key_sentences import BriefSettings, make_brief
from service.ingest.chunking import bound_sentences
from service.evaluation.datasets import read_summaries
from service.ingest.parse import prepare_memo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    items = read_summaries(args.file)[: args.limit]
    embedder, splitter, rouge = get_embedder("minilm"), SentenceSplitter(), metrics.Rouge()
    docs = []
    for item in items:
        draft = prepare_memo(item.document, split=splitter.spans, max_chars=10**7)
        spans, _ = bound_sentences(draft.text, draft.sentences, embedder.count_tokens, 128)
        vectors = embedder.embed([draft.text[s:e] for s, e in spans])
        refs = [[r[s:e] for s, e in splitter.spans(r)] for r in item.references]
        docs.append((draft.text, spans, vectors, refs))

    def score(settings: BriefSettings) -> float:
        total = 0.0
        for text, spans, vectors, refs in docs:
            brief = make_brief(text, spans, vectors, 3, settings)
            total += rouge.score([s.text for s in brief.sentences], refs)["rouge2"]
        return total / len(docs)

    lead = sum(rouge.score([t[s:e] for s, e in sp[:3]], refs)["rouge2"] for t, sp, _, refs in docs) / len(docs)
    print(f"lead-3 rouge2 {lead:.4f}; default {score(BriefSettings()):.4f}")
    results = []
    for lw, decay, lam, mw in itertools.product((0.3, 0.5, 0.7, 0.85), (0.25, 0.5, 1.0, 2.0), (0.6, 0.7, 0.85, 1.0), (4, 6, 8)):
        settings = BriefSettings(lead_weight=lw, lead_decay=decay, mmr_lambda=lam, min_words=mw)
        results.append((score(settings), settings))
    for value, settings in sorted(results, key=lambda r: -r[0])[:10]:
        print(f"{value:.4f} {settings}")


if __name__ == "__main__":
    main()
