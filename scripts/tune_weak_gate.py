"""How the weak-support gate (``MEMO_LLM_ASK_BELOW``) was chosen: log every weakly supported answer once, then
apply candidate rules to the log offline.

``log`` runs ``memo eval qa --mode generative`` with the gate wide open: every grounded answer to a question
the extractive tier abstains on (support at least ``--ask-below``) is let through, with what the service's
checks would have seen written to ``--log``: the type check (``generative.answers_type``), the model's P(yes)
(``generative.confirmation``), the memo text it read, and the candidate signals of ``log``'s docstring. The
eval's own ``--json`` keeps every question's row, and an extractive run on the same data dir (run first,
``PREFIX-ex.json``) gives each question's support. ``sweep`` replays rules over those files: a weak answer a
rule declines becomes an abstention, in the answerable pass and in the pass with the question's own memo
filtered out, exactly as the service would decide, without running the model again.

    MEMO_LLM=none .venv/bin/memo eval qa /tmp/news/lead_dev.jsonl --data-dir /tmp/ev/lead --limit 80 --json /tmp/ev/lead-ex.json
    MEMO_LLM=qwen-1.5b MEMO_LLM_ASK_BELOW=0.3 .venv/bin/python scripts/tune_weak_gate.py log /tmp/news/lead_dev.jsonl --data-dir /tmp/ev/lead \\
        --limit 80 --log /tmp/ev/lead-weak.json --json /tmp/ev/lead-gen.json [--read p_n1 --read p_l3 ...] [--depth 10]
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
# P(yes) logged besides the service's own, by what else the confirmation reads: (neighbours either side of the
# answer sentence, the memo's first sentences) (``GenerativeSettings.verify_neighbours`` / ``verify_lead``)
READS = {"p_n1": (1, 0), "p_l3": (0, 3), "p_n1_l3": (1, 3)}
# P(yes) logged besides the service's own, by another wording of the confirmation's last instruction
# (``prompts.VERIFY``'s, with the same memo text, question and answer)
ASKS = {"p_details": "Check every detail the question gives (who, what, where, when) against the memo text. "
                     "Does the memo text state all of them about the proposed answer? Reply yes or no.",
        "p_event": "Is the memo text about the same event the question asks about, and does it give the proposed "
                   "answer for it? Reply yes or no."}


def _asked(key: str, question: str, answer: str, read: list[str]) -> str:
    """The confirmation prompt with ``ASKS[key]`` as its last instruction."""
    from service.llm import prompts

    instruction = next(line for line in prompts.VERIFY.splitlines() if line.endswith("Reply yes or no."))
    return prompts.verify_prompt(question, answer, " ".join(read)).replace(instruction, ASKS[key])


def log(argv: list[str], log_path: Path, reads: list[str], asks: list[str], depth: int | None = None) -> None:
    """``memo eval qa`` (``argv``) with every grounded weak answer let through and its checks logged: besides
    the service's confirmation ("p"), the ``reads`` of ``READS``, the ``asks`` of ``ASKS`` and "p_answer", how likely the model opened its
    reply to the answer prompt with its answer rather than "unanswerable" (``generative.answering``), and
    "support_read", the support of the sentences the model chose from (those of the ``depth`` best chunks,
    ``GenerativeSettings.depth``; the k's without it) beside "support_k", that of the k's (``load`` checks it
    against the extractive run's). Run with ``MEMO_LLM_ASK_BELOW`` under 0.3 to let
    ``sweep`` replay lower floors for asking the model."""
    from dataclasses import replace

    from service import engine as engine_mod
    from service.answer import generative

    real_settings_for = engine_mod.settings_for

    def settings_for(*args, **kwargs):  # the engine's writer settings, with ``depth``
        settings = real_settings_for(*args, **kwargs)
        return settings if depth is None else replace(settings, answer=replace(settings.answer, depth=depth))

    engine_mod.settings_for = settings_for
    from service.answer import extractive as answering

    real_answer, read_support = engine_mod.Engine._answer, {}

    def _answer(self, *args, **kwargs):  # the support of the sentences the model chooses from (the depth's)
        found = real_answer(self, *args, **kwargs)
        read_support["last"] = answering.support(found[3], self.settings.answer)
        read_support["k"] = answering.support(found[1], self.settings.answer)
        return found

    engine_mod.Engine._answer = _answer

    entries: list[dict] = []
    calls = {"n": 0}
    pending: dict = {}
    real_ask, real_type, real_confirmation = engine_mod.Engine.ask, generative.answers_type, generative.confirmation
    real_prompt, prompts = generative.answer_prompt, []

    def answer_prompt(question, blocks):
        prompts.append(real_prompt(question, blocks))
        return prompts[-1]

    def ask(self, *args, **kwargs):  # evaluate_qa asks each question twice: answerable, then its memo filtered out
        calls["n"] += 1
        return real_ask(self, *args, **kwargs)

    def answers_type(question, answer, phrases):
        pending.clear()
        pending.update(call=calls["n"], phase="main" if calls["n"] % 2 else "blind", question=question,
                       answer=answer.answer, memo=answer.span.memo_id if answer.span else None,
                       support_read=read_support.get("last"), support_k=read_support.get("k"),
                       type_ok=real_type(question, answer, phrases))
        return True

    def confirmation(question, answer, context, generator, surroundings=None, neighbours=0, lead=0):
        # first, while the model still holds the answer prompt (a one-token read)
        p_answer = generative.answering(prompts[-1], answer, generator)
        entry = {**pending, "p": real_confirmation(question, answer, context, generator), "p_answer": p_answer,
                 "read": [p.text for p in context if answer.span is not None and p.memo_id == answer.span.memo_id]}
        for key, (n, m) in ((k, READS[k]) for k in reads):  # what the confirmation would say reading around
            entry[key] = real_confirmation(question, answer, context, generator, surroundings, n, m)
        for key in asks:  # what it would say asked another way
            entry[key] = generator.choose(_asked(key, question, answer.answer or "", entry["read"]), ("yes", "no"))[0]
        entries.append(entry)
        log_path.write_text(json.dumps(entries))
        return 10.0  # more than any verify_min asks: every grounded weak answer stands (answers_type is logged too)

    engine_mod.Engine.ask = ask
    generative.answers_type, generative.confirmation = answers_type, confirmation
    generative.answer_prompt = answer_prompt
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
        # the log's own record of it, where there is one: the extractive run must be of the same data dir
        assert abs(entry.get("support_k", entry["support"]) - entry["support"]) < 0.01, (entry["question"], prefix)
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


def rules(keys: list[str]) -> dict[str, Rule]:
    """Candidate rules, for each logged confirmation ``keys`` ("p": the service's own reading)."""
    found: dict[str, Rule] = {"no weak answers": lambda e: False, "every grounded weak answer": lambda e: True}
    for key in keys:
        for low, p_min in itertools.product((0.3, 0.4), (0.5, 0.6, 0.7)):
            found[f"support >= {low}, type, {key} >= {p_min}"] = (
                lambda key, low, p_min: lambda e: e["support"] >= low and e["type_ok"] and e[key] >= p_min
            )(key, low, p_min)
        for low, weight, least in itertools.product((0.3, 0.4), (0.5, 1.0), (0.9, 1.0, 1.1, 1.2)):
            found[f"support >= {low}, type, {key} + {weight} support >= {least}"] = (
                lambda key, low, weight, least: lambda e: e["support"] >= low and e["type_ok"]
                and e[key] + weight * e["support"] >= least)(key, low, weight, least)
    if "p_answer" in keys:  # a confirmation with how sure the model was to answer at all
        for key, weight, least in itertools.product(_confirmations(keys), (0.25, 0.5), (1.1, 1.2, 1.3, 1.4)):
            found[f"support >= 0.3, type, {key} + {weight} p_answer + 0.5 support >= {least}"] = (
                lambda key, weight, least: lambda e: e["support"] >= 0.3 and e["type_ok"]
                and e[key] + weight * e["p_answer"] + 0.5 * e["support"] >= least)(key, weight, least)
        # the floor under which the model is not asked, and the support of what it chose from instead of the k's
        # (the service's floor with the k's support is the rule above)
        for floor, key, least in itertools.product((0.1, 0.2, 0.3), ("support", "support_read"), (1.2, 1.3, 1.4)):
            if (floor, key) == (0.3, "support"):
                continue
            found[f"{key} >= {floor}, type, p + 0.5 p_answer + 0.5 {key} >= {least}"] = (
                lambda floor, key, least: lambda e: e.get(key) is not None and e[key] >= floor and e["type_ok"]
                and e["p"] + 0.5 * e["p_answer"] + 0.5 * e[key] >= least)(floor, key, least)
    return found


def _confirmations(keys: list[str]) -> list[str]:
    """The logged confirmations among ``keys``: the service's ("p") and the other readings and wordings."""
    return [k for k in keys if k == "p" or k in READS or k in ASKS]


def sweep(sets: dict[str, str]) -> None:
    data = {name: load(prefix) for name, prefix in sets.items()}
    # the readings every set logged
    keys = ["p", *(k for k in [*READS, *ASKS, "p_answer"]
                   if all(k in e for _, weak in data.values() for e in weak.values()))]
    for name, (_, weak) in data.items():
        entries = list(weak.values())
        right = [e for e in entries if e["right"]]
        wrong = [e for e in entries if not e["right"]]
        print(f"{name}: {len(entries)} weak answers, {len(right)} right; AUC", ", ".join(
            f"{key} {auc([e[key] for e in right], [e[key] for e in wrong]):.3f} / + 0.5 support "
            f"{auc([e[key] + 0.5 * e['support'] for e in right], [e[key] + 0.5 * e['support'] for e in wrong]):.3f}"
            for key in keys))
        if "p_answer" in keys:  # the service's sum (GenerativeSettings.verify_*), with each logged confirmation
            for key in _confirmations(keys):
                total = lambda e: e[key] + 0.5 * e["p_answer"] + 0.5 * e["support"]
                print(f"{name}: AUC {key} + 0.5 p_answer + 0.5 support "
                      f"{auc([total(e) for e in right], [total(e) for e in wrong]):.3f}")
    print("contained / answerable abstained / unanswerable abstained / confident wrong")
    for label, rule in rules(keys).items():
        print(f"{label:58s}", "  ".join(f"{name} " + "/".join(f"{x:.3f}" for x in apply(*data[name], rule))
                                        for name in data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    logging = sub.add_parser("log", help="memo eval qa --mode generative, every weak answer let through and logged")
    logging.add_argument("--log", type=Path, required=True)
    logging.add_argument("--read", dest="reads", action="append", choices=sorted(READS), default=[],
                         help="also log the confirmation reading around the answer sentence this way (repeatable)")
    logging.add_argument("--ask", dest="asks", action="append", choices=sorted(ASKS), default=[],
                         help="also log the confirmation asked this other way (repeatable)")
    logging.add_argument("--depth", type=int, help="the model chooses its sentences from this many best chunks "
                         "(GenerativeSettings.depth; default: the generator's own)")
    swept = sub.add_parser("sweep", help="candidate rules over logged runs")
    swept.add_argument("sets", nargs="+", metavar="NAME=PREFIX")
    args, rest = parser.parse_known_args()
    if args.command == "log":
        log(rest, args.log, args.reads, args.asks, args.depth)
    else:
        sweep(dict(s.split("=", 1) for s in args.sets))


if __name__ == "__main__":
    main()
