"""Choose the abstention threshold and fit the confidence curve on QA dev files of different kinds.

Runs the service's own ask path (as `memo eval qa`) with abstention off, so every question gets its
support (the best sentence's score plus its margin over the next candidates) twice: once with its own
context stored (answerable) and once with it filtered out (unanswerable). Prints the trade-off per
threshold for each file and a logistic fit of P(the answer holds the gold answer | support) where the
curve is shown (answers at or above ``--threshold``, and every unanswerable pass, all wrong), each file
weighing the same whatever its size: tuned on one kind of text alone, the threshold did not transfer to
the other (XQuAD's Wikipedia paragraphs vs long news memos).

    python scripts/news_sets.py --layout lead --out /tmp/news/lead_dev.jsonl
    .venv/bin/python scripts/tune_answer.py ../shared/eval/qa_xquad_dev.jsonl /tmp/news/lead_dev.jsonl
"""
from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from service.config import load_config
from service.evaluation.datasets import read_qa
from service.engine import build_engine
from service.evaluation.runner import evaluate_qa


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, steps: int = 5000, lr: float = 0.5
                 ) -> tuple[float, float]:
    """P(y=1) = 1 / (1 + exp(-(a x + b))) by gradient descent on the log loss weighted by ``w`` (summing to
    1; x standardised inside)."""
    mu, sd = x.mean(), x.std() or 1.0
    z = (x - mu) / sd
    a = b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(a * z + b)))
        a -= lr * float(np.sum(w * (p - y) * z))
        b -= lr * float(np.sum(w * (p - y)))
    return a / sd, b - a * mu / sd


def support_rows(path: Path, data_dir: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Support of each question's answer (own context stored), whether it held the gold answer, and the
    support with the own context filtered out. With the confidence curve set to slope 1 and bias 0 the
    reported confidence is sigmoid(support), so support = logit(confidence)."""
    items = read_qa(path)
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(load_config({"DATA_DIR": str(data_dir or Path(tmp) / "data"), "LLM": "none"}))
        try:
            engine.settings = replace(engine.settings, answer=replace(
                engine.settings.answer, abstain_below=-math.inf, confidence_slope=1.0, confidence_bias=0.0))
            rows = evaluate_qa(engine, items)["rows"]
        finally:
            engine.close()

    def logit(p: float) -> float:
        p = min(max(p, 1e-9), 1 - 1e-9)
        return math.log(p / (1 - p))

    return (np.array([logit(r["confidence"]) for r in rows]), np.array([float(r["contained"]) for r in rows]),
            np.array([logit(r["blind_confidence"]) for r in rows]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--data-dir", type=Path, help="one per file, in order (ingested memos are reused)",
                        action="append")
    parser.add_argument("--threshold", type=float, default=0.70,
                        help="the curve is fit where it is shown: answers at or above it, and every unanswerable pass")
    args = parser.parse_args()
    data_dirs = args.data_dir or [None] * len(args.files)
    sets = [support_rows(f, d) for f, d in zip(args.files, data_dirs)]
    thresholds = np.arange(0.40, 0.90, 0.02)
    for path, (answerable, contained, blind) in zip(args.files, sets):
        print(f"{path}\n{'threshold':>9} {'answered':>9} {'answered+contained':>19} {'unanswerable abstained':>23}")
        for t in thresholds:
            answered = answerable >= t
            print(f"{t:9.2f} {answered.mean():9.3f} {(answered * contained).mean():19.3f} {(blind < t).mean():23.3f}")
    kept = [(a[a >= args.threshold], c[a >= args.threshold], b) for a, c, b in sets]
    x = np.concatenate([np.concatenate([a, b]) for a, _, b in kept])
    y = np.concatenate([np.concatenate([c, np.zeros_like(b)]) for _, c, b in kept])
    w = np.concatenate([np.full(len(a) + len(b), 1.0 / (len(a) + len(b)) / len(kept)) for a, _, b in kept])
    a, b = fit_logistic(x, y, w)
    print(f"confidence = 1 / (1 + exp(-({a:.3f} * support + {b:.3f})))  [P(the answer holds the gold answer)]")


if __name__ == "__main__":
    main()
