"""Readers for evaluation data: BEIR retrieval folders, extractive QA rows, summarisation rows (JSONL)."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class RetrievalSet:
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]  # query id -> doc id -> graded relevance (> 0 is relevant)


@dataclass(frozen=True)
class QAItem:
    id: str
    doc_id: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class SummaryItem:
    id: str
    document: str
    references: tuple[str, ...]


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_beir(folder: Path) -> RetrievalSet:
    """``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv`` (or ``qrels/test.tsv``) of a BEIR folder."""
    folder = Path(folder)
    corpus = [Document(str(r["_id"]), r.get("title") or "", r["text"]) for r in _jsonl(folder / "corpus.jsonl")]
    queries = {str(r["_id"]): r["text"] for r in _jsonl(folder / "queries.jsonl")}
    qrels_path = folder / "qrels.tsv" if (folder / "qrels.tsv").exists() else folder / "qrels" / "test.tsv"
    qrels: dict[str, dict[str, float]] = {}
    with open(qrels_path, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = float(row["score"])
    return RetrievalSet(corpus, queries, qrels)


def read_qa(path: Path) -> list[QAItem]:
    """Rows with ``doc_id, context, question, answers[]`` (SQuAD-style; XQuAD dev in ../shared/eval)."""
    return [
        QAItem(str(r.get("qid") or i), str(r["doc_id"]), r.get("title") or "", r["context"], r["question"],
               tuple(r["answers"]))
        for i, r in enumerate(_jsonl(path))
    ]


def read_summaries(path: Path) -> list[SummaryItem]:
    """Rows with ``document`` and ``references[]`` (several) or ``reference_summary`` (one)."""
    items = []
    for i, r in enumerate(_jsonl(path)):
        refs = r.get("references") or [r["reference_summary"]]
        items.append(SummaryItem(str(r.get("doc_id") or i), r["document"], tuple(refs)))
    return items
