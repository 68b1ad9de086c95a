"""scripts/regrade_answers.py: saved model answers replayed through the real generative path, one per question."""
import importlib.util
from pathlib import Path

from service.evaluation.datasets import QAItem

_spec = importlib.util.spec_from_file_location(
    "regrade_answers", Path(__file__).resolve().parents[1] / "scripts" / "regrade_answers.py")
regrade_answers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regrade_answers)

RUSSIA = ("In 2015, the Russian military intervened in Syria at the regime's request. "
          "Russian military sites in Syria include the Hmeimim Air Base and the Tartus naval facility.")
BERGEN = "Bergen is a city on the west coast of Norway. The Bergen fish market opened in 1276."


def test_each_question_gets_its_own_saved_answer_and_is_grounded_by_this_code(config):
    items = [QAItem("q1", "d1", "Russia", RUSSIA, "When did the Russian military intervene in Syria?", ("2015",)),
             QAItem("q2", "d2", "Bergen", BERGEN, "When did the Bergen fish market open?", ("1276",)),
             QAItem("q3", "d2", "Bergen", BERGEN, "On which coast of Norway is Bergen?", ("west coast",))]
    rows = [{"generated": "2015"},
            {"generated": "The Bergen fish market opened in 1276."},  # the question restated: trimmed to the new words
            {"generated": "the Pacific coast"}]  # in no sentence: the extractive answer stands
    fakes = {k: config[k] for k in ("EMBEDDER", "ENTITIES", "PHRASES", "ABSTAIN_BELOW")}
    result = regrade_answers.regrade(rows, items, items, "fake", fakes)
    answers = [(r["generated"], r["answer"], r["grounding"]) for r in result["rows"]]
    assert answers[0] == ("2015", "2015", "grounded")
    assert answers[1][:2] == ("The Bergen fish market opened in 1276", "1276") and answers[1][2] == "grounded"
    assert answers[2][0] == "the Pacific coast" and answers[2][2] == "extractive-fallback"
    assert answers[2][1] != "the Pacific coast"
    assert result["citation_support"] == 1.0
