"""Re-ground the model answers saved by `memo eval qa --mode generative --json OUT` with this code.

A change to how generated text is grounded, trimmed or narrowed can be measured without running the LLM
again: the saved `generated` text of each question is replayed, through the engine's own generative path
(retrieval, the sentences the model would read, `service.answer.generative.ground_answer`), over the same
contexts. Greedy decoding makes the saved text what the model writes for that prompt, so the answerable
figures are those `memo eval qa` would print for this code; `--check` fails when a saved answer is not
reproduced (run it on the code that wrote the file). The unanswerable pass is not replayed: its
abstentions do not depend on the model, the answers in it would.

    .venv/bin/python scripts/regrade_answers.py bench-results/eval-qa-generative-qwen-1.5b.json \
        --generator qwen-1.5b [--data ../shared/eval/qa_xquad_dev.jsonl] [--json OUT] [--check]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from models import register_generator
from service.config import load_config
from service.evaluation.datasets import QAItem, read_qa
from service.engine import build_engine
from service.evaluation.runner import evaluate_qa

REPLAY = "replay"  # the registry name of the generator that replays the saved answers


class Replay:
    """A generator that writes what the saved run's model wrote for the question being evaluated (the same
    question may occur twice, over other contexts); ``advance`` moves to the next one."""

    def __init__(self, name: str, generated: list[str]) -> None:
        self.name = name
        self._generated = generated
        self._at = 0

    def advance(self, _done: int = 1) -> None:
        self._at += 1

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        yield self._generated[self._at]

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))


def regrade(rows: list[dict], items: list[QAItem], contexts: list[QAItem], generator: str,
            overrides: dict | None = None) -> dict:
    """``evaluate_qa``'s generative result for ``items`` (over all ``contexts``) with the model's text of each
    saved row in place of the model; ``overrides`` go to ``load_config`` (tests pass fakes)."""
    replay = Replay(generator, [r["generated"] or "" for r in rows])
    # through the registry, so the engine builds its writer as for a real model (settings by ``replay.name``)
    register_generator(REPLAY, lambda: replay)
    with tempfile.TemporaryDirectory() as tmp:
        config = {"DATA_DIR": str(Path(tmp) / "data"), "LLM": REPLAY, "BRIEF_WORKER": False, **(overrides or {})}
        engine = build_engine(load_config(config))
        try:  # evaluate_qa reports each question done (both its passes) before it asks the next
            return evaluate_qa(engine, items, progress=replay.advance, contexts=contexts, mode="generative")
        finally:
            engine.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("saved", type=Path, help="a `memo eval qa --mode generative --json` file")
    parser.add_argument("--generator", required=True, help="the MEMO_LLM name that wrote it (its writer settings)")
    parser.add_argument("--data", type=Path, help="the QA file it was run on (default: the one it names)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true", help="fail unless every saved answer is reproduced")
    args = parser.parse_args()
    saved = json.loads(args.saved.read_text())
    rows = saved["rows"]
    contexts = read_qa(args.data or Path(saved["data"]))
    items = contexts[: len(rows)]
    if [i.id for i in items] != [r["id"] for r in rows]:
        parser.error("the saved rows are not the first questions of the QA file")
    result = regrade(rows, items, contexts, args.generator)
    names = ("exact_match", "f1", "answer_contained", "citation_support", "abstained", "grounded")
    print(f"{args.saved} re-grounded by this code (n={result['n']}, generator {args.generator})")
    for name in names:
        print(f"  {name:18} {saved[name]:>8} -> {result[name]}")
    changed = [(old, new) for old, new in zip(rows, result["rows"]) if old["answer"] != new["answer"]]
    print(f"  answers changed: {len(changed)}")
    if args.json:
        args.json.write_text(json.dumps({"saved": str(args.saved), "generator": args.generator,
                                         **{n: result[n] for n in ("n", *names)},
                                         "changed": [{"question": new["question"], "was": old["answer"],
                                                      "now": new["answer"], "golds": new["golds"]}
                                                     for old, new in changed]}, indent=1))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
