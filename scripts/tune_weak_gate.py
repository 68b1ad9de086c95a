"""How the weak-support gate (``MEMO_LLM_ASK_BELOW``) was chosen: log every weakly supported answer once, then
apply candidate rules to the log offline.

``log`` runs ``memo eval qa --mode generative`` with the gate wide open: every grounded answer to a question
the extractive tier abstains on (support at least ``--ask-below``) is let through, with what the service's
checks would have seen written to ``--log``: the type check (``generative.answers_type``), the model's P(yes)
(``generative.confirmation``), the memo text it read. The eval's own ``--json`` keeps every question's row, and
an extractive run on the same data dir (``--extractive-json``, run first) gives each question's support.
``sweep`` replays rules over those files: a weak answer a rule declines becomes an abstention, in the
answerable pass and in the pass with the question's own memo filtered out, exactly as the service would
decide, without running the model again.

    MEMO_LLM=none .venv/bin/memo eval qa /tmp/news/lead_dev.jsonl --data-dir /tmp/ev/lead --json /tmp/ev/lead-ex.json
    MEMO_LLM=qwen-1.5b MEMO_LLM_ASK_BELOW=0.3 .venv/bin/python scripts/tune_weak_gate.py log /tmp/news/lead_dev.jsonl --data-dir /tmp/ev/lead \\
        --limit 80 --log /tmp/ev/lead-weak.json --json /tmp/ev/lead-gen.json
    .venv/bin/python scripts/tune_weak_gate.py sweep lead=/tmp/ev/lead xquad=/tmp/ev/xquad ...
        (NAME=PREFIX: PREFIX-ex.json, PREFIX-gen.json and PREFIX-weak.json)
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

Rule = Callable[[dict], bool]


def log(argv: list[str], log_path: Path) -> None:
    """``memo eval qa`` (``argv``) with every grounded weak answer let through and its checks logged."""
    from service import engine as engine_mod
    from service.answer import generative

    entries: list[dict] = []
    calls = {"n": 0}
    pending: dict = {}
    real_ask, real_type, real_confirmation = engine_mod.Engine.ask, generative.answers_type, generative.confirmation

    def ask(self, *args, **kwargs):  # evaluate_qa asks each question twice: answerable, then its memo filtered out
        calls["n"] += 1
        return real_ask(self, *args, **kwargs)

    def answers_type(question, answer, phrases):
        pending.clear()
        pending.update(call=calls["n"], phase="main" if calls["n"] % 2 else "blind", question=question,
                       answer=answer.answer, memo=answer.span.memo_id if answer.span else None,
                       type_ok=real_type(question, answer, phrases))
        return True

    def confirmation(question, answer, context, generator):
        entry = {**pending, "p": real_confirmation(question, answer, context, generator),
                 "read": [p.text for p in context if answer.span is not None and p.memo_id == answer.span.memo_id]}
        entries.append(entry)
        log_path.write_text(json.dumps(entries))
        return 1.0  # sure: passes verify_min for any support of at least 0.2, so every weak answer stands

    engine_mod.Engine.ask = ask
    generative.answers_type, generative.confirmation = answers_type, confirmation
    from service.cli import main

    sys.argv = ["memo", "eval", "qa", *argv, "--mode", "generative"]
    main()


def _support(confidence: float) -> float:
    """The extractive support behind a confidence (``extractive.confidence_of`` inverted)."""
    from service.answer.extractive import AnswerSettings

    s = AnswerSettings()
    c = min(max(confidence, 1e-6), 1 - 1e-6)
    return (math.log(c / (1 - c)) - s.confidence_bias) / s.confidence_slope


def load(prefix: str) -> tuple[list[dict], dict[int, dict]]:
    """The generative rows and the weak answers by call (2 i: question i answerable, 2 i + 1: filtered)."""
    rows = json.loads(Path(f"{prefix}-gen.json").read_text())["rows"]
    # the engine strips the question it logs; the rows keep the file's text
    extractive = {r["question"].strip(): r for r in json.loads(Path(f"{prefix}-ex.json").read_text())["rows"]}
    weak = {}
    for entry in json.loads(Path(f"{prefix}-weak.json").read_text()):
        index = (entry["call"] - 1) // 2
        row, ex = rows[index], extractive[entry["question"].strip()]
        assert row["question"].strip() == entry["question"].strip(), (row["question"], entry["question"])
        main = entry["phase"] == "main"
        entry["right"] = main and row["answered"] and row["contained"]
        entry["support"] = _support(ex["confidence"] if main else ex["blind_confidence"])
        weak[2 * index + (0 if main else 1)] = entry
    return rows, weak


def apply(rows: list[dict], weak: dict[int, dict], rule: Rule) -> tuple[float, float, float, float]:
    """contained, answerable abstained, unanswerable abstained, confident wrong, with ``rule`` deciding."""
    contained = abstained = blind_abstained = confident_wrong = 0
    for i, row in enumerate(rows):
        answered, right = row["answered"], row["contained"]
        if 2 * i in weak and not rule(weak[2 * i]):
            answered = right = False
        contained += right
        abstained += not answered
        confident_wrong += answered and not right and row["confidence"] >= 0.5
        blind_abstained += row["blind_abstained"] or (2 * i + 1 in weak and not rule(weak[2 * i + 1]))
    n = len(rows)
    return contained / n, abstained / n, blind_abstained / n, confident_wrong / n


def auc(right: list[float], wrong: list[float]) -> float:
    pairs = [(a > b) + 0.5 * (a == b) for a in right for b in wrong]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def rules() -> dict[str, Rule]:
    found: dict[str, Rule] = {"no weak answers": lambda e: False, "every grounded weak answer": lambda e: True}
    for low, p_min in itertools.product((0.3, 0.4), (0.5, 0.6, 0.7)):
        found[f"support >= {low}, type, P(yes) >= {p_min}"] = (
            lambda low, p_min: lambda e: e["support"] >= low and e["type_ok"] and e["p"] >= p_min)(low, p_min)
    for low, weight, least in itertools.product((0.3, 0.4), (0.5, 1.0), (0.9, 1.0, 1.1, 1.2)):
        found[f"support >= {low}, type, P(yes) + {weight} support >= {least}"] = (
            lambda low, weight, least: lambda e: e["support"] >= low and e["type_ok"]
            and e["p"] + weight * e["support"] >= least)(low, weight, least)
    return found


def sweep(sets: dict[str, str]) -> None:
    data = {name: load(prefix) for name, prefix in sets.items()}
    for name, (_, weak) in data.items():
        entries = list(weak.values())
        right = [e for e in entries if e["right"]]
        wrong = [e for e in entries if not e["right"]]
        print(f"{name}: {len(entries)} weak answers, {len(right)} right; AUC P(yes) "
              f"{auc([e['p'] for e in right], [e['p'] for e in wrong]):.3f}, P(yes) + 0.5 support "
              f"{auc([e['p'] + 0.5 * e['support'] for e in right], [e['p'] + 0.5 * e['support'] for e in wrong]):.3f}")
    print("contained / answerable abstained / unanswerable abstained / confident wrong")
    for label, rule in rules().items():
        print(f"{label:52s}", "  ".join(f"{name} " + "/".join(f"{x:.3f}" for x in apply(*data[name], rule))
                                        for name in data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    logging = sub.add_parser("log", help="memo eval qa --mode generative, every weak answer let through and logged")
    logging.add_argument("--log", type=Path, required=True)
    swept = sub.add_parser("sweep", help="candidate rules over logged runs")
    swept.add_argument("sets", nargs="+", metavar="NAME=PREFIX")
    args, rest = parser.parse_known_args()
    if args.command == "log":
        log(rest, args.log)
    else:
        sweep(dict(s.split("=", 1) for s in args.sets))


if __name__ == "__main__":
    main()
