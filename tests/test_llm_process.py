"""The LLM in a child process (models.llm.process): the same replies as in process, early closes, loading
errors and a child that died, through a real child process running the scripted fake model."""
from __future__ import annotations

import functools

import pytest

from models.llm.process import ProcessGenerator
from models.llm.spec import ModelUnavailable
from service.llm.prompts import answer_prompt, verify_prompt
from tests.fakes import ScriptedGenerator, unavailable_generator

MEMO = "In 2015, the Russian military intervened in Syria at the regime's request."


@pytest.fixture
def child():
    generator = ProcessGenerator(ScriptedGenerator)
    yield generator
    generator.close()


def test_the_child_replies_as_the_model_in_process(child):
    local = ScriptedGenerator()
    prompt = answer_prompt("When did Russia intervene?", [MEMO])
    assert child.name == local.name
    assert child.generate(prompt, 32) == local.generate(prompt, 32) == "2015\nmore text that is not the answer"
    assert list(child.stream(prompt, 2)) == list(local.stream(prompt, 2))
    assert child.choose(verify_prompt("When?", "2015", MEMO), ("yes", "no")) == [1.0, 0.0]
    assert child.choose(verify_prompt("When?", "1999", MEMO), ("yes", "no")) == [0.0, 1.0]


def test_a_stream_closed_early_leaves_the_child_ready_for_the_next_call(child):
    prompt = answer_prompt("When did Russia intervene?", [MEMO])
    pieces = child.stream(prompt, 32)
    assert next(pieces) == "2015\n"
    pieces.close()
    assert child.generate(prompt, 1) == "2015\n"


def test_a_model_that_cannot_load_raises_its_own_error():
    with pytest.raises(ModelUnavailable, match="qwen-9b is not ready here"):
        ProcessGenerator(unavailable_generator)


def test_a_child_that_died_is_started_again(child):
    child._process.kill()
    child._process.wait(10)
    prompt = answer_prompt("When did Russia intervene?", [MEMO])
    assert child.generate(prompt, 1) == "2015\n"


def test_a_loader_with_arguments_reaches_the_child():
    generator = ProcessGenerator(functools.partial(ScriptedGenerator, "Tartus"))
    try:
        assert generator.generate(answer_prompt("Where?", [MEMO]), 5) == "Tartus"
    finally:
        generator.close()
