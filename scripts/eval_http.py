"""QA through the HTTP API of ``memo serve`` on its default configuration, as a user meets it: the way the
issue's held-out news set is judged. ``memo eval qa`` runs the same questions in process; this starts a
server (a fresh data dir, no seeds, rate limit off, every other setting its default or ``--env``), posts
every context as a memo (``POST /memos``, title as its first line, as ``memo eval`` stores them), waits
until the deferred sentence vectors and entities are filled (``/health``), then asks every question with
``POST /ask`` naming no mode (``MEMO_ASK_MODE``'s default decides) and again with its own memo filtered out
(``memo_ids``: all the others), where the right reply is an abstention. Same figures as ``memo eval qa``
(``service.evaluation.runner.qa_figures``); ``seconds_p50`` is the client's, HTTP included.

    .venv/bin/python scripts/eval_http.py /tmp/news/lead_check.jsonl --limit 80 --json bench-results/http-lead-check.json
    .venv/bin/python scripts/eval_http.py FILE --env MEMO_LLM=qwen-0.5b      # another configuration
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import ServerProcess  # noqa: E402
from service.evaluation import metrics  # noqa: E402
from service.evaluation.datasets import QAItem, read_qa  # noqa: E402
from service.evaluation.runner import qa_figures  # noqa: E402


def post_contexts(server: ServerProcess, items: list[QAItem]) -> dict[str, str]:
    """Each distinct context stored as a memo: document id -> memo id."""
    memo_of: dict[str, str] = {}
    for item in items:
        if item.doc_id in memo_of:
            continue
        text = f"{item.title}\n\n{item.context}" if item.title else item.context
        status, body = server.call("POST", "/memos", {"text": text, "title": item.title or None})
        if status not in (200, 201):
            raise RuntimeError(f"POST /memos for {item.doc_id}: {status} {body}")
        memo_of[item.doc_id] = body["id"]
    return memo_of


def wait_filled(server: ServerProcess, timeout: float = 1800) -> dict:
    """``/health`` once nothing deferred is pending (sentence vectors, entities)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, health = server.call("GET", "/health")
        if status == 200 and not health.get("sentences_pending") and not health.get("entities_pending"):
            return health
        time.sleep(1)
    raise RuntimeError("deferred work still pending after the timeout")


def ask(server: ServerProcess, question: str, memo_ids: list[str] | None = None) -> tuple[dict, float]:
    body = {"question": question, **({"memo_ids": memo_ids} if memo_ids is not None else {})}
    started = time.perf_counter()
    status, answer = server.call("POST", "/ask", body, timeout=600)
    if status != 200:
        raise RuntimeError(f"POST /ask: {status} {answer}")
    return answer, time.perf_counter() - started


def evaluate(server: ServerProcess, items: list[QAItem], contexts: list[QAItem]) -> dict:
    memo_of = post_contexts(server, contexts)
    health = wait_filled(server)
    rows = []
    for item in items:
        result, seconds = ask(server, item.question)
        own = memo_of[item.doc_id]
        blind, _ = ask(server, item.question, [m for m in memo_of.values() if m != own])
        answered, answer = not result["abstained"], result["answer"] or ""
        cited = result["citations"]
        rows.append({
            "id": item.id, "question": item.question, "answer": result["answer"], "generated": result.get("generated"),
            "golds": list(item.answers), "answered": answered,
            "em": metrics.exact_match(answer, item.answers) if answered else 0.0,
            "f1": metrics.token_f1(answer, item.answers) if answered else 0.0,
            "contained": answered and metrics.contains_answer(answer, item.answers),
            "supported": answered and any(answer in c["quote"] for c in cited[:1]),
            "retrieved_own": any(c["memo_id"] == own for c in cited),
            "cited_memo": cited[0]["memo_id"] if cited else None,
            "confidence": result["confidence"], "grounding": result.get("grounding"), "mode": result["mode"],
            "blind_abstained": blind["abstained"], "blind_answer": None if blind["abstained"] else blind["answer"],
            "blind_confidence": blind["confidence"], "blind_grounding": blind.get("grounding"),
            "seconds": round(seconds, 3),
        })
        print(f"\r{len(rows)}/{len(items)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    modes = {r["mode"] for r in rows}
    figures = qa_figures(rows, "generative" if modes == {"generative"} else "extractive")
    return {**figures, "modes": sorted(modes), "backend": health["backend"], "llm": health["models"]["llm"],
            "ask_mode": health["ask_mode"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="QA JSONL (../shared/eval/README.md's format)")
    parser.add_argument("--limit", type=int, help="only the first N questions (every context is still stored)")
    parser.add_argument("--env", nargs="*", default=[], metavar="MEMO_X=VALUE", help="settings for the server")
    parser.add_argument("--json", type=Path, help="also write the figures and rows here")
    args = parser.parse_args()
    contexts = read_qa(args.file)
    items = contexts[: args.limit] if args.limit else contexts
    env = {"MEMO_SEEDS_DIR": "", "MEMO_RATELIMIT": "off", **dict(e.split("=", 1) for e in args.env)}
    with tempfile.TemporaryDirectory(prefix="eval-http-") as tmp:
        with ServerProcess(Path(tmp) / "data", env=env) as server:
            result = evaluate(server, items, contexts)
    result = {"data": str(args.file), "env": env, **result}
    for key, value in result.items():
        if key not in ("rows", "env"):
            print(f"  {key:32s} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
