"""The prompt read in parts: a reader can stop the model between two parts (a background brief giving way),
and the text is the same as when the prompt is read whole."""
from __future__ import annotations

import pytest

from models.llm.ort import _Prefill
from service.llm.prompts import answer_prompt, brief_prompt
from tests.conftest import SEEDS


class RecordingGenerator:
    """Stands in for onnxruntime-genai's generator: records the token parts appended to it."""

    def __init__(self) -> None:
        self.parts: list[list[int]] = []

    def append_tokens(self, tokens) -> None:
        self.parts.append(list(tokens))


def test_the_prompt_is_appended_in_parts_with_a_pause_between_each():
    generator = RecordingGenerator()
    reading = _Prefill(generator, list(range(10)), 4)
    steps = 0
    for _ in reading:
        steps += 1
        assert len(generator.parts) == steps  # a pause comes after a part is read, before the next
    assert generator.parts == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and steps == 2


def test_a_prompt_shorter_than_a_part_is_read_in_one_step_without_a_pause():
    generator = RecordingGenerator()
    assert list(_Prefill(generator, [1, 2, 3], 128)) == []
    assert generator.parts == [[1, 2, 3]]


def test_stopping_between_parts_reads_no_more_of_the_prompt():
    generator = RecordingGenerator()
    reading = iter(_Prefill(generator, list(range(100)), 10))
    next(reading)
    reading.close()
    assert generator.parts == [list(range(10))]


def test_common_prefix_counts_shared_opening_tokens():
    from models.llm.ort import common_prefix

    assert common_prefix([1, 2, 3, 4], [1, 2, 9]) == 2
    assert common_prefix([], [1]) == 0 and common_prefix([5, 6], [5, 6]) == 2


def test_reading_from_a_kept_prefix_appends_only_the_rest():
    generator = RecordingGenerator()
    reading = _Prefill(generator, list(range(10)), 4, start=6)
    assert list(reading) == [] and generator.parts == [[6, 7, 8, 9]] and reading.read == 10


@pytest.mark.model
@pytest.mark.llm
def test_the_real_model_writes_the_same_text_whether_it_reads_the_prompt_whole_in_parts_or_after_a_kept_prefix():
    from models.llm.loader import load_qwen
    from models.llm.ort import OrtGenaiGenerator

    seed = next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")
    model = load_qwen("qwen-0.5b", in_process=True)
    assert isinstance(model, OrtGenaiGenerator)
    prompts = [brief_prompt(seed[:3000].split(". ")), answer_prompt("When did Russia intervene in Syria?", [seed[:2500]]),
               answer_prompt("Which Russian bases are in Syria?", [seed[:2500]])]
    model.reuse_prefix, model.prefill_chunk = False, 1_000_000  # each prompt read whole, from nothing
    expected = [model.generate(p, 40) for p in prompts]
    expected_choice = model.choose(prompts[1], ["yes", "no"])
    model.prefill_chunk = 32
    for prompt, text in zip(prompts, expected):
        assert model.count_tokens(prompt) > 3 * 32
        pieces = list(model.stream(prompt, 40))
        assert pieces[:3] == ["", "", ""]  # one empty piece per part read but the last
        assert "".join(pieces) == text
    model.reuse_prefix = True  # each prompt read after what it shares with the one before
    for _ in range(2):
        assert [model.generate(p, 40) for p in prompts] == expected
        assert model.choose(prompts[1], ["yes", "no"]) == pytest.approx(expected_choice, abs=1e-3)
    stopped = model.stream(prompts[0], 40)
    next(stopped)
    stopped.close()  # stopped part-way through the prompt: the next call reads from what was read
    assert model.generate(prompts[2], 40) == expected[2]
