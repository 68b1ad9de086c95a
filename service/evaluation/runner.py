"""``memo eval``: the engine's own ingest → retrieve → answer / brief paths, scored on labelled data."""
from __future__ import annotations

import statistics
import time
from collections import defaultdict
from typing import Callable

from service.evaluation import metrics
from service.evaluation.datasets import Document, QAItem, RetrievalSet, SummaryItem
from service.engine import Engine
from service.retrieval.hybrid import MODES, rank_memos
from service.types import MemoFilter

Progress = Callable[[int], None]


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


def ingest_documents(engine: Engine, docs: list[Document], progress: Progress | None = None) -> dict[str, list[str]]:
    """Store each document as a memo (title as its first line), sentence vectors filled; returns memo id ->
    document ids (identical texts share one memo). Documents the service refuses (empty ones) are left
    out: they can only count as misses."""
    owners: dict[str, list[str]] = defaultdict(list)
    items = [(f"{doc.title}\n\n{doc.text}" if doc.title else doc.text, {"title": doc.title or None}) for doc in docs]
    for doc, (memo, _) in zip(docs, engine.intake.ingest_many(items, skip_invalid=True,
                                                       progress=(lambda *_: progress(1)) if progress else None)):
        if memo is not None:
            owners[memo.id].append(doc.id)
    # The sentence vectors and entities ingest deferred, as a server's filler stores them: questions then read
    # them (a reader would embed them on the spot, the same vectors, for every question again).
    engine.fill_entities()
    engine.fill_sentences()
    return dict(owners)


def evaluate_retrieval(engine: Engine, data: RetrievalSet, progress: Progress | None = None,
                       depth: int = 100) -> dict:
    """nDCG@10, recall@5/10 and MRR@10 of the service's hybrid ranking, with dense-only and BM25-only
    rankings from the same index beside it."""
    owners = ingest_documents(engine, data.corpus, progress)
    per_mode: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in MODES}
    queries = [(q, data.queries[q]) for q in data.qrels if q in data.queries]
    for qid, text in queries:
        gains = {d: g for d, g in data.qrels[qid].items() if g > 0}
        relevant = set(gains)
        if not relevant:
            continue
        query = engine.embedder.embed([text])[0]
        for mode in MODES:
            ranking = [doc for memo_id, _ in rank_memos(engine.search(text, depth, mode=mode, query=query))
                       for doc in owners.get(memo_id, [])]
            scores = per_mode[mode]
            scores["ndcg@10"].append(metrics.ndcg_at(ranking, gains, 10))
            scores["recall@5"].append(metrics.recall_at(ranking, relevant, 5))
            scores["recall@10"].append(metrics.recall_at(ranking, relevant, 10))
            scores["mrr@10"].append(metrics.mrr_at(ranking, relevant, 10))
        if progress:
            progress(1)
    return {mode: {"n": len(s["ndcg@10"]), **{k: _mean(v) for k, v in s.items()}} for mode, s in per_mode.items()}


def evaluate_qa(engine: Engine, items: list[QAItem], k: int = 5, progress: Progress | None = None,
                contexts: list[QAItem] | None = None, mode: str = "extractive") -> dict:
    """Answer quality with every context ingested as a memo (those of ``contexts`` too, default ``items``),
    then an unanswerable pass: each question asked with its own context filtered out, where the right
    reply is an abstention."""
    docs = list({i.doc_id: Document(i.doc_id, i.title, i.context) for i in (contexts or items)}.values())
    owners = ingest_documents(engine, docs)
    memo_of = {doc: memo for memo, doc_ids in owners.items() for doc in doc_ids}
    all_memos = tuple(owners)
    rows = []
    for item in items:
        started = time.perf_counter()
        result, _ = engine.ask(item.question, k, mode=mode)
        seconds = time.perf_counter() - started
        answered = not result.abstained
        answer = result.answer or ""
        others = MemoFilter(memo_ids=tuple(m for m in all_memos if m != memo_of[item.doc_id]))
        blind, _ = engine.ask(item.question, k, others, mode=mode)
        rows.append({
            "id": item.id,
            "question": item.question,
            "answer": result.answer,
            "generated": result.generated,
            "golds": list(item.answers),
            "answered": answered,
            "em": metrics.exact_match(answer, item.answers) if answered else 0.0,
            "f1": metrics.token_f1(answer, item.answers) if answered else 0.0,
            "contained": answered and metrics.contains_answer(answer, item.answers),
            "supported": answered and any(answer in c.quote for c in result.citations[:1]),
            "retrieved_own": any(c.memo_id == memo_of[item.doc_id] for c in result.citations),
            "score": result.citations[0].score if result.citations else 0.0,
            "cited_memo": result.citations[0].memo_id if result.citations else None,
            "confidence": result.confidence,
            "blind_abstained": blind.abstained,
            "blind_answer": None if blind.abstained else blind.answer,
            "blind_score": blind.citations[0].score if blind.citations else 0.0,
            "blind_cited_memo": blind.citations[0].memo_id if blind.citations else None,
            "blind_confidence": blind.confidence,
            "blind_grounding": blind.grounding,
            "grounding": result.grounding,
            "seconds": round(seconds, 3),
        })
        if progress:
            progress(1)
    return qa_figures(rows, mode)


def qa_figures(rows: list[dict], mode: str) -> dict:
    """The QA figures over per-question ``rows`` (``evaluate_qa``'s; also built over HTTP by scripts/eval_http.py)."""
    answered = [r for r in rows if r["answered"]]
    return {
        "n": len(rows),
        "exact_match": _mean([r["em"] for r in rows]),
        "f1": _mean([r["f1"] for r in rows]),
        "answer_contained": _mean([float(r["contained"]) for r in rows]),
        "citation_support": _mean([float(r["supported"]) for r in answered]),
        "abstained": _mean([float(not r["answered"]) for r in rows]),
        "abstain_rate_unanswerable": _mean([float(r["blind_abstained"]) for r in rows]),
        # answered with confidence >= 0.5 and the gold answer not in the answer: what misleads a reader
        "confident_wrong": _mean([float(r["answered"] and r["confidence"] >= 0.5 and not r["contained"]) for r in rows]),
        "right_when_answered": _mean([float(r["contained"]) for r in answered]),
        "own_context_cited": _mean([float(r["retrieved_own"]) for r in rows]),
        "grounded": _mean([float(r["grounding"] == "grounded") for r in answered]) if mode == "generative" else None,
        "seconds_p50": round(statistics.median(r["seconds"] for r in rows), 3) if rows else 0.0,
        "rows": rows,
    }


def _lead(engine: Engine, text: str, n: int) -> list[str]:
    return [text[s:e] for s, e in engine.splitter.spans(text)[:n]]


def evaluate_summaries(engine: Engine, items: list[SummaryItem], max_sentences: int = 3,
                       progress: Progress | None = None, mode: str = "extractive") -> dict:
    """ROUGE of the service's brief and of Lead-3 from the same sentence splitter, against every reference."""
    rouge = metrics.Rouge()
    ours: dict[str, list[float]] = defaultdict(list)
    lead: dict[str, list[float]] = defaultdict(list)
    lengths, seconds, fallbacks = [], [], 0
    for item in items:
        refs = [_lead(engine, r, 1000) for r in item.references]
        started = time.perf_counter()
        brief = engine.brief_text(item.document, max_sentences, mode)
        seconds.append(time.perf_counter() - started)
        fallbacks += mode == "abstractive" and not brief.method.startswith("abstractive")
        sentences = [s.text for s in brief.sentences]
        lengths.append(len(brief.brief.split()))
        for name, value in rouge.score(sentences, refs).items():
            ours[name].append(value)
        for name, value in rouge.score(_lead(engine, item.document, max_sentences), refs).items():
            lead[name].append(value)
        if progress:
            progress(1)
    return {
        "n": len(items),
        "brief": {k: _mean(v) for k, v in ours.items()},
        "lead3": {k: _mean(v) for k, v in lead.items()},
        "mean_brief_words": _mean([float(x) for x in lengths]),
        "extractive_fallbacks": fallbacks,
        "seconds_p50": round(statistics.median(seconds), 3) if seconds else 0.0,
    }
