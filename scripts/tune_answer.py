"""Choose the abstention threshold and fit the confidence curve on a QA dev file.

Runs the service's own ask path (as `memo eval qa`) with abstention off, so every question gets its best
support score twice: once with its own context stored (answerable) and once with it filtered out
(unanswerable). Prints the trade-off per threshold and a logistic fit of P(the cited sentence holds the
answer | score) over both passes, the curve behind `confidence`.

    .venv/bin/python scripts/tune_answer.py ../shared/eval/qa_xquad_dev.jsonl [--data-dir DIR]
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


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 5000, lr: float = 0.5) -> tuple[float, float]:
    """P(y=1) = 1 / (1 + exp(-(a x + b))) by gradient descent on the log loss (x standardised inside)."""
    mu, sd = x.mean(), x.std() or 1.0
    z = (x - mu) / sd
    a = b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(a * z + b)))
        a -= lr * float(np.mean((p - y) * z))
        b -= lr * float(np.mean(p - y))
    return a / sd, b - a * mu / sd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    items = read_qa(args.file)
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(load_config({"DATA_DIR": str(args.data_dir or Path(tmp) / "data")}))
        try:
            engine.settings = replace(engine.settings, answer=replace(engine.settings.answer, abstain_below=-math.inf))
            rows = evaluate_qa(engine, items)["rows"]
        finally:
            engine.close()
    answerable = np.array([r["score"] for r in rows])
    contained = np.array([float(r["contained"]) for r in rows])
    blind = np.array([r["blind_score"] for r in rows])
    print(f"{'threshold':>9} {'answered':>9} {'answered+contained':>19} {'unanswerable abstained':>23}")
    for t in np.arange(0.30, 0.66, 0.01):
        answered = answerable >= t
        print(f"{t:9.2f} {answered.mean():9.3f} {(answered * contained).mean():19.3f} {(blind < t).mean():23.3f}")
    x = np.concatenate([answerable, blind])
    y = np.concatenate([contained, np.zeros_like(blind)])
    a, b = fit_logistic(x, y)
    print(f"confidence = 1 / (1 + exp(-({a:.3f} * score + {b:.3f})))  [P(cited sentence holds the answer)]")
    best = max(np.arange(0.30, 0.66, 0.01), key=lambda t: (answerable >= t).mean() * 0 + ((answerable >= t) * contained).sum() + (blind < t).sum())
    print(f"threshold maximising answered-correctly + abstained-unanswerable: {best:.2f}")


if __name__ == "__main__":
    main()
