"""How well the abstractive brief's checker catches who-did-what errors, and how often it drops a faithful
sentence. A perturbation set built from news articles and their human-written highlights:

- faithful: each highlight sentence (a paraphrase written by a person from the article);
- swapped person: a person it names replaced by another person the article names (every name is still in
  the memo, so only a check of who did what can catch it);
- changed number / changed date: a number or date replaced by another one the article states elsewhere;
- negated: "is" -> "is not", "was" -> "was not", "will" -> "will not", ... (first auxiliary).

Each sentence goes through ``check_brief`` against its article, as a model-written brief sentence would;
reported: the share of perturbed sentences it drops (catch rate, per kind) and of faithful ones (false
alarms).

    .venv/bin/python scripts/check_faithfulness.py ../shared/eval/summ_cnndm_dev.jsonl [--limit N]
"""
from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from collections import defaultdict
from pathlib import Path

from service.brief.abstractive import AbstractiveSettings, check_brief
from service.config import load_config
from service.engine import build_engine

_AUX = re.compile(r"\b(is|was|are|were|will|has|have|had|can|could|would|should)\b(?!\s+not\b)")


def negated(sentence: str) -> str | None:
    match = _AUX.search(sentence)
    return None if match is None else sentence[: match.end()] + " not" + sentence[match.end():]


def replaced(sentence: str, start: int, end: int, other: str) -> str:
    return sentence[:start] + other + sentence[end:]


def perturbations(sentence: str, memo_phrases: dict[str, set[str]], phrases, rng: random.Random) -> dict[str, str]:
    """At most one perturbed copy of ``sentence`` per kind."""
    out: dict[str, str] = {}
    found = phrases(sentence, False)
    for kind, labels in (("swapped person", {"PERSON"}), ("changed number", {"CARDINAL", "MONEY", "PERCENT", "QUANTITY"}),
                         ("changed date", {"DATE"})):
        for p in found:
            if p.label not in labels:
                continue
            own = sentence[p.start:p.end]
            others = sorted({o for label in labels for o in memo_phrases.get(label, ())
                             if o not in sentence and own not in o and o not in own})
            if others:
                out[kind] = replaced(sentence, p.start, p.end, rng.choice(others))
                break
    neg = negated(sentence)
    if neg is not None:
        out["negated"] = neg
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, dest="json_out")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.file, encoding="utf-8") if line.strip()][: args.limit]
    rng = random.Random(args.seed)
    dropped: dict[str, list[bool]] = defaultdict(list)
    examples: list[dict] = []
    settings = AbstractiveSettings()
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(load_config({"DATA_DIR": tmp, "LLM": "none", "BRIEF_WORKER": False}))
        try:
            models = engine.models
            for row in rows:
                text = row["document"]
                spans = models.splitter.spans(text)
                vectors = models.embedder.embed([text[s:e] for s, e in spans])
                memo_phrases: dict[str, set[str]] = defaultdict(set)
                for s, e in spans:
                    for p in models.phrases.phrases(text[s:e], False):
                        memo_phrases[p.label].add(text[s + p.start : s + p.end])
                reference = row.get("reference_summary") or row["references"][0]
                for s, e in models.splitter.spans(reference):
                    sentence = " ".join(reference[s:e].split())
                    if len(sentence.split()) < 4:
                        continue
                    cases = {"faithful": sentence, **perturbations(sentence, memo_phrases, models.phrases.phrases, rng)}
                    for kind, candidate in cases.items():
                        checked = check_brief(candidate, text, spans, vectors, models, settings, "check")
                        dropped[kind].append(bool(checked.dropped))
                        examples.append({"kind": kind, "sentence": candidate, "dropped": bool(checked.dropped)})
        finally:
            engine.close()
    report = {kind: {"n": len(v), "dropped": round(sum(v) / len(v), 3)} for kind, v in sorted(dropped.items())}
    perturbed = [d for kind, v in dropped.items() if kind != "faithful" for d in v]
    report["all perturbed"] = {"n": len(perturbed), "dropped": round(sum(perturbed) / max(len(perturbed), 1), 3)}
    for kind, figures in report.items():
        print(f"{kind:16} n={figures['n']:4}  dropped {figures['dropped']:.3f}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"report": report, "examples": examples}, indent=1))


if __name__ == "__main__":
    main()
