"""The LLM tier: generative answers and abstractive briefs, one generation at a time."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np

from models.llm.spec import Generator
from models import TextModels
from service.brief import abstractive
from service.answer import generative
from service.llm import prompts
from service.types import Answer, Passage
from service.llm.slot import GenerationSlot

Span = tuple[int, int]
BRIEF_VERSION = "v3"


@dataclass(frozen=True)
class WriterSettings:
    answer: generative.GenerativeSettings = field(default_factory=generative.GenerativeSettings)
    brief: abstractive.AbstractiveSettings = field(default_factory=abstractive.AbstractiveSettings)


# Answer settings where GenerativeSettings' defaults are not what was measured best for a model.
# sentences: first 200 XQuAD dev questions over all 120 contexts, F1 with 3 / 4 / 5 sentences: qwen-1.5b
# 0.613 / 0.635 / 0.632, qwen-0.5b 0.469 / 0.456 / 0.456; qwen-1.5b-gpt4all (the same weights) also did
# better with 4 than 3 (docs/llm.md). ask_below: qwen-1.5b also reads weakly supported questions by default
# (its confirmation tells right from wrong weak answers; qwen-0.5b's does not: docs/quality.md).
ANSWER_SETTINGS: dict[str, dict[str, object]] = {"qwen-1.5b": {"sentences": 4, "ask_below": 0.3},
                                                 "qwen-1.5b-gpt4all": {"sentences": 4}}


# With ask_below set, the model reads sentences scoring at least this (measured with ask_below 0.3 and 0.4:
# docs/quality.md); a weakly supported question's best sentences often score under the default 0.3.
WEAK_MIN_SCORE = 0.2
AUTO = "auto"  # MEMO_LLM_ASK_BELOW's default: the generator's own measured setting (ANSWER_SETTINGS)


def settings_for(generator_name: str, ask_below: float | str | None = AUTO) -> WriterSettings:
    """The writer settings measured best for this generator. ``ask_below`` (MEMO_LLM_ASK_BELOW; ``AUTO``: the
    generator's own, None: never): the model also reads weakly supported questions down to it, and sentences
    down to ``WEAK_MIN_SCORE``, checking such an answer before it stands (its type, then the model's
    confirmation with its odds of answering and the support: ``generative.confirmed``)."""
    settings = WriterSettings()
    answer = replace(settings.answer, **ANSWER_SETTINGS.get(generator_name, {}))
    if ask_below != AUTO:
        answer = replace(answer, ask_below=ask_below)
    if answer.ask_below is not None:
        answer = replace(answer, min_score=min(answer.min_score, WEAK_MIN_SCORE))
    return replace(settings, answer=answer)


class Writer:
    """Holds the generator and its slot. ``background=True`` calls (the brief worker) yield to requests: they
    start only when no request waits, and stop part-way when one starts waiting."""

    def __init__(self, generator: Generator, slot: GenerationSlot, settings: WriterSettings) -> None:
        self.generator = generator
        self.slot = slot
        self.settings = settings

    @property
    def brief_method(self) -> str:
        """The cache key of this writer's briefs: the generator and the way briefs are written (v2: from the
        key sentences; v3: the prompt says what a brief keeps), so a brief written another way is not served
        as this one."""
        return f"abstractive:{self.generator.name}:{BRIEF_VERSION}"

    def stream_answer(self, question: str, scored: list[tuple[float, Passage]], extractive: Answer,
                      phrases: generative.Phrases | None = None,
                      surroundings: generative.Surroundings | None = None,
                      tentative: generative.Tentative | None = None) -> Iterator[str | Answer]:
        """Tokens, then the grounded answer; waits for the slot first (``Busy`` when it cannot). ``phrases``
        finds the typed phrases a clause-long answer narrows to; ``tentative`` is the extractive answer at
        the ``ask_below`` threshold and its support (``generative.stream_answer``)."""
        answering = generative.stream_answer(question, scored, extractive, self.generator, self.settings.answer, phrases,
                                             surroundings, tentative)
        if not generative.asks_model(extractive, tentative):
            yield from answering
            return
        with self.slot.hold():
            yield from answering

    def answer(self, question: str, scored: list[tuple[float, Passage]], extractive: Answer,
               phrases: generative.Phrases | None = None,
               surroundings: generative.Surroundings | None = None,
               tentative: generative.Tentative | None = None) -> Answer:
        final = extractive
        for item in self.stream_answer(question, scored, extractive, phrases, surroundings, tentative):
            if isinstance(item, Answer):
                final = item
        return final

    def brief(
        self,
        text: str,
        spans: Sequence[Span],
        vectors: np.ndarray,
        models: TextModels,
        pick: abstractive.Picker,
        background: bool = False,
    ) -> abstractive.AbstractiveBrief:
        """A checked abstractive brief of ``text`` (its sentence ``spans`` and their ``vectors``), written
        from the key sentences ``pick`` chooses."""
        # a background brief stops for a request that starts waiting meanwhile (abstractive.GaveWay): a
        # request then waits for the model's next token, not for the rest of the brief
        give_way = (lambda: self.slot.waiting() > 0) if background else None
        with self.slot.hold(background=background):
            generated = abstractive.write_brief(text, spans, vectors, pick, self.generator, self.settings.brief,
                                                give_way)
        return abstractive.check_brief(generated, text, spans, vectors, models, self.settings.brief, self.brief_method)


    def paragraph(
        self,
        query: str,
        points: list[str],
        models: TextModels,
    ) -> str | None:
        """One paragraph over a topic's dated points, every sentence checked against the points as a
        brief's sentences are checked against its memo; None when no sentence holds up."""
        text = "\n".join(points)
        spans, start = [], 0
        for point in points:
            spans.append((start, start + len(point)))
            start += len(point) + 1
        with self.slot.hold():
            generated = self.generator.generate(prompts.topic_prompt(query, points), self.settings.brief.max_tokens)
        checked = abstractive.check_brief(generated, text, spans, models.embedder.embed(points), models,
                                          self.settings.brief, self.brief_method)
        return checked.brief or None


def brief_to_dict(brief: abstractive.AbstractiveBrief) -> dict:
    return asdict(brief)


def brief_from_dict(body: dict) -> abstractive.AbstractiveBrief:
    sentences = tuple(abstractive.SupportedSentence(**s) for s in body["sentences"])
    return abstractive.AbstractiveBrief(body["brief"], sentences, tuple(body["dropped"]), body["method"])
