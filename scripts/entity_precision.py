"""Precision of the entity facets on hand-labelled memos: spaCy's mentions as the service kept them before the
memo-consistency rules (``trimmed_entities``) and after (``find_entities``).

Each JSONL row is a memo (``text``, or ``file`` relative to the project) and ``gold``: every name the model
may tag, with its kind (person, place, organisation, or none for a word that names no one). A mention is
right when its label's kind (``service.ingest.entities.KINDS``) is the gold kind. Counted twice: every
mention, and each distinct (memo, name, label) as the facets list it. A tagged name missing from gold
stops the run: label it first.

    .venv/bin/python scripts/entity_precision.py tests/fixtures/entity_memos.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.ingest.entities import KINDS, find_entities, trimmed_entities  # noqa: E402


def score(found: list[tuple[int, str, str]], gold: list[dict[str, str]]) -> dict[str, object]:
    """``found``: (memo, name, label) per mention. Precision per mention and per distinct facet entry."""
    missing = sorted({name for i, name, _ in found if name not in gold[i]})
    if missing:
        raise SystemExit(f"not labelled in gold: {missing}")
    right = [KINDS[label] == gold[i][name] for i, name, label in found]
    distinct = sorted(set(found))
    right_distinct = [KINDS[label] == gold[i][name] for i, name, label in distinct]
    wrong = sorted({f"{name} as {label}" for (i, name, label), ok in zip(distinct, right_distinct) if not ok})
    return {"mentions": len(found), "mention_precision": round(sum(right) / len(found), 3),
            "facet_entries": len(distinct), "right_entries": sum(right_distinct),
            "facet_precision": round(sum(right_distinct) / len(distinct), 3), "wrong": wrong}


def measure(file: Path, extractor) -> dict[str, object]:
    """Precision before and after the consistency rules, on the labelled memos of ``file``."""
    rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] if "text" in r else (ROOT / r["file"]).read_text(encoding="utf-8") for r in rows]
    gold = [r["gold"] for r in rows]
    result: dict[str, object] = {"data": str(file), "memos": len(rows), "model": extractor.name}
    for name, find in (("before", trimmed_entities), ("after", find_entities)):
        found = [(i, e.text, e.label) for i, text in enumerate(texts) for e in find(extractor, text)]
        result[name] = score(found, gold)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    from models.nlp.entities import load_spacy_entities

    print(json.dumps(measure(args.file, load_spacy_entities()), indent=2))


if __name__ == "__main__":
    main()
