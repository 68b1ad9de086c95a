"""Quality gate: the service's own eval paths on fixed slices of ../shared/eval, against floors set just
under the figures measured when they were chosen (README "Quality"). A drop below a floor fails CI."""
from __future__ import annotations

import os

import pytest

from service.config import load_config
from service.evaluation.datasets import read_beir, read_qa, read_summaries
from service.engine import build_engine
from service.evaluation.runner import evaluate_qa, evaluate_retrieval, evaluate_summaries
from tests.conftest import ROOT

pytestmark = [pytest.mark.model, pytest.mark.quality]

EVAL = ROOT.parent / "shared" / "eval"

# Measured on 2026-11-24 (fp32 embedder) with `pytest tests/test_quality.py -s` (printed figures): retrieval recall@5 1.0,
# nDCG@10 0.976; QA on the slice F1 0.434, EM 0.37, citation support 1.0, unanswerable abstained 0.90;
# briefs: 2026-12-07, the lead brief (service/brief/lead.py) ROUGE-2 0.272 on these 10 (Lead-3 0.268), from
# `memo eval summarise ../shared/eval/summ_cnndm_dev.jsonl --limit 10`.
FLOORS = {
    "retrieval": {"recall@5": 0.99, "ndcg@10": 0.96},
    "qa": {"f1": 0.41, "exact_match": 0.35, "citation_support": 1.0, "abstain_rate_unanswerable": 0.87},
    "summaries": {"rouge2": 0.26},
    # the default LLM, qwen-1.5b (this test, 2026-12-07): ROUGE-2 0.306 on these 10 on one machine, 0.289 on
    # another (the int4 model's arithmetic differs by CPU, and greedy decoding follows it), Lead-3 0.268 on both;
    # 2 of the 10 briefs refused by the checker and replaced by the extractive brief (qwen-0.5b: 0.2785, none).
    # So the floor is the abstractive target's margin over Lead-3 in the same run, not a fixed figure.
    "abstractive": {"over_lead3": 0.01, "extractive_fallbacks": 2},
}


def _engine(tmp_path_factory, llm: str):
    if not EVAL.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the quality gate needs the dev data in {EVAL}")
        pytest.skip(f"quality gate skipped: no dev data at {EVAL} (it runs in CI)")
    return build_engine(load_config({"DATA_DIR": str(tmp_path_factory.mktemp("quality")), "EMBEDDER": "minilm-q8-shared",
                                     "ENTITIES": "spacy-shared", "PHRASES": "spacy-shared", "LLM": llm,
                                     "BRIEF_WORKER": False}))


@pytest.fixture(scope="module")
def eval_engine(tmp_path_factory):
    engine = _engine(tmp_path_factory, "none")
    yield engine
    engine.close()


def test_retrieval_on_xquad_dev(eval_engine):
    result = evaluate_retrieval(eval_engine, read_beir(EVAL / "retrieval" / "xquad_dev"))
    print("retrieval", result)
    hybrid = result["hybrid"]
    assert hybrid["recall@5"] >= FLOORS["retrieval"]["recall@5"]
    assert hybrid["ndcg@10"] >= FLOORS["retrieval"]["ndcg@10"]
    assert hybrid["ndcg@10"] >= max(result["dense"]["ndcg@10"], result["bm25"]["ndcg@10"]) - 0.005


def test_qa_on_100_xquad_questions(eval_engine):
    items = read_qa(EVAL / "qa_xquad_dev.jsonl")
    result = evaluate_qa(eval_engine, items[:100], contexts=items)
    print("qa", {k: v for k, v in result.items() if k != "rows"})
    for name, floor in FLOORS["qa"].items():
        assert result[name] >= floor, (name, result[name], floor)
    # each row says what was answered and against what, for reading the misses in `--json` output
    assert [r["question"] for r in result["rows"]] == [i.question for i in items[:100]]
    assert all(r["answer"] for r in result["rows"] if r["answered"])
    assert all(r["answer"] is None for r in result["rows"] if not r["answered"])
    assert [r["golds"] for r in result["rows"]] == [list(i.answers) for i in items[:100]]


def test_briefs_on_10_cnndm_articles(eval_engine):
    result = evaluate_summaries(eval_engine, read_summaries(EVAL / "summ_cnndm_dev.jsonl")[:10])
    print("summaries", result)
    assert result["brief"]["rouge2"] >= FLOORS["summaries"]["rouge2"]


@pytest.mark.llm
def test_abstractive_briefs_on_10_cnndm_articles(tmp_path_factory):
    """The default LLM's briefs (greedy: the same text every run on a machine like this one)."""
    engine = _engine(tmp_path_factory, "llm-shared")
    try:
        result = evaluate_summaries(engine, read_summaries(EVAL / "summ_cnndm_dev.jsonl")[:10], mode="abstractive")
    finally:
        engine.close()
    print("abstractive", result)
    assert result["extractive_fallbacks"] <= FLOORS["abstractive"]["extractive_fallbacks"]
    assert result["brief"]["rouge2"] >= result["lead3"]["rouge2"] + FLOORS["abstractive"]["over_lead3"]
