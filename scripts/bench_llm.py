"""Benchmark the LLM tier per model: load, RSS, abstractive brief (uncached and cached), generative answer
latency and first streamed token, and quality on dev data (QA F1, brief ROUGE), in one process.

    .venv/bin/python scripts/bench_llm.py --models qwen-0.5b qwen-1.5b qwen-0.5b-gpt4all --questions 40 --articles 10 \\
        --out bench-results/llm.json

Run it on an idle machine: prompt processing and generation use both cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from service.config import load_config
from service.evaluation.datasets import read_qa, read_summaries
from service.engine import build_engine
from service.evaluation.runner import evaluate_qa, evaluate_summaries

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
SEED = sorted((ROOT / "seeds").glob("*.txt"))[0].read_text(encoding="utf-8")
SEED_QUESTIONS = [
    "Which Russian military sites in Syria are mentioned?",
    "When did Russia intervene militarily in Syria?",
    "What will Damascus and Moscow sign?",
    "What did Assad say about Ukraine?",
]


def _pids(pid: str = "self") -> list[str]:
    """This process and its descendants (the LLM runs in a child process)."""
    found = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            found += _pids(child)
    return found


def _status_mb(key: str) -> float:
    total = 0
    for pid in _pids():
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith(key + ":"))
    return round(total / 1024, 1)


def rss_mb() -> float:
    """Resident memory of this process and the LLM's child process."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus that of the LLM's child process."""
    return _status_mb("VmHWM")


def stalls_while(work, probe, every_s: float = 0.05) -> dict:
    """``work()`` on a thread while this one calls ``probe()`` every ``every_s``: how long a probe takes
    while the model writes (a request served beside the brief worker)."""
    import threading

    thread = threading.Thread(target=work)
    thread.start()
    times = []
    while thread.is_alive():
        t = time.perf_counter()
        probe()
        times.append((time.perf_counter() - t) * 1000)
        time.sleep(every_s)
    thread.join()
    return {"n": len(times), "p50_ms": pct(times, 50), "max_ms": round(max(times), 1) if times else 0.0}


def answer_during_brief(engine, memo_id: str, question: str, delays: tuple[float, ...] = (0.3, 2.0)) -> dict:
    """Seconds to a generative answer asked ``delay`` s after a background brief of ``memo_id`` started (the
    brief worker's call): at 0.3 s the model is still reading the brief's prompt, later it is writing; the brief
    gives way at its next step, a part of the prompt or a token (``GaveWay``; the memo's brief is left to write
    again)."""
    import threading

    from service.brief.abstractive import GaveWay

    def brief() -> None:
        try:
            engine.brief(memo_id, mode="abstractive", background=True)
        except GaveWay:
            pass

    result = {}
    for delay in delays:
        thread = threading.Thread(target=brief)
        thread.start()
        time.sleep(delay)
        t = time.perf_counter()
        engine.ask(question, mode="generative")
        result[f"after_{delay:g}_s"] = round(time.perf_counter() - t, 2)
        thread.join()
    return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 2)


def article_of(words: int) -> str:
    """A dev-set news article of about ``words`` words (the brief target speaks of a 400-word memo)."""
    docs = [s.document for s in read_summaries(EVAL / "summ_bbc_dev.jsonl")]
    return min(docs, key=lambda d: abs(len(d.split()) - words))


def bench_model(name: str, questions: int, articles: int, data_dir: Path) -> dict:
    started = time.perf_counter()
    engine = build_engine(load_config({"DATA_DIR": str(data_dir), "LLM": name, "BRIEF_WORKER": False,
                                       # a background brief starts at once (answer_during_brief)
                                       "LLM_WAIT_S": 3600, "LLM_QUIET_S": 0}))
    load_s = time.perf_counter() - started
    try:
        result: dict = {"model": name, "runtime": "gpt4all" if name.endswith("-gpt4all") else "onnxruntime-genai", "engine_start_s": round(load_s, 1),
                        "rss_after_load_mb": rss_mb()}
        seed, _ = engine.ingest(SEED)
        memo400, _ = engine.ingest(article_of(400))
        # the store's counts (what /health reads) while the model writes a third memo's brief
        other, _ = engine.ingest(article_of(300))
        result["health_during_brief"] = stalls_while(lambda: engine.brief(other.id, mode="abstractive"), engine.health)
        for label, memo in (("seed_memo", seed), ("memo_400_words", memo400)):
            t = time.perf_counter()
            brief = engine.brief(memo.id, mode="abstractive")
            uncached = time.perf_counter() - t
            t = time.perf_counter()
            engine.brief(memo.id, mode="abstractive")
            cached = time.perf_counter() - t
            result[f"brief_{label}"] = {"words": len(memo.text.split()), "uncached_s": round(uncached, 2),
                                        "cached_ms": round(cached * 1000, 2), "method": brief.method,
                                        "brief": brief.brief, "dropped": list(getattr(brief, "dropped", ()))}
        answers, firsts = [], []
        for question in SEED_QUESTIONS * 2:
            t = time.perf_counter()
            first = None
            for item in engine.ask_stream(question):
                if first is None and isinstance(item, str):
                    first = time.perf_counter() - t
            answers.append(time.perf_counter() - t)
            firsts.append(first if first is not None else answers[-1])
        result["answer_s"] = {"n": len(answers), "p50": pct(answers, 50), "p95": pct(answers, 95)}
        result["first_token_s"] = {"p50": pct(firsts, 50), "p95": pct(firsts, 95)}
        # a question that arrives while the brief worker writes (the same question alone: answer_s)
        memo500, _ = engine.ingest(article_of(500))
        result["answer_during_brief_s"] = answer_during_brief(engine, memo500.id, SEED_QUESTIONS[1])
        result["rss_peak_mb"] = peak_rss_mb()
        items = read_qa(EVAL / "qa_xquad_dev.jsonl")
        qa = evaluate_qa(engine, items[:questions], contexts=items, mode="generative")
        result["qa_generative"] = {k: v for k, v in qa.items() if k != "rows"}
        summaries = read_summaries(EVAL / "summ_cnndm_dev.jsonl")[:articles]
        result["cnndm_abstractive"] = evaluate_summaries(engine, summaries, mode="abstractive")
        return result
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["qwen-0.5b", "qwen-1.5b"])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--articles", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"needs the dev data in {EVAL}")
    runs = []
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(bench_model(name, args.questions, args.articles, Path(tmp) / "data"))
        print(json.dumps(runs[-1], indent=1), flush=True)
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "command": "scripts/bench_llm.py " + " ".join(sys.argv[1:]), "models": runs}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
