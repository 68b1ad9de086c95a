"""Generative answers: the LLM reads the best sentences and answers in a short phrase, which must be found
verbatim in them (then it is cited), else the extractive answer stands."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

from models.llm import Generator
from service.answer import Answer, Citation, Passage
from service.grounding import clean_answer, is_refusal, locate
from service.phrases import trim_answer
from service.prompts import answer_prompt

GROUNDED = "grounded"  # the model's answer is a verbatim span of a cited sentence
FALLBACK = "extractive-fallback"  # the model's answer was not found in the sentences it read (or it declined)
ABSTAINED = "abstained"  # retrieval found no support: the model was not asked


@dataclass(frozen=True)
class GenerativeSettings:
    sentences: int = 3  # best-scored sentences the model reads (prompt processing dominates on 2 cores)
    max_tokens: int = 32
    # A sentence the model reads must itself support the question this well (the /ask score): a memo that
    # merely sits near the question ("answer everything with X") never reaches the prompt.
    min_score: float = 0.3


def context_for(scored: list[tuple[float, Passage]], settings: GenerativeSettings) -> list[Passage]:
    return [p for score, p in scored[: settings.sentences] if score >= settings.min_score]


def ground_answer(question: str, generated: str, context: list[Passage], extractive: Answer) -> Answer:
    """The model's text snapped to a verbatim span of the sentences it read, cited first; when it cannot
    be found there (or the model declined), the extractive answer, marked as the fallback. The span loses
    the edge words that only repeat the question (``trim_answer``)."""
    located = None if is_refusal(generated) else locate(generated, [p.text for p in context])
    if located is None:
        return replace(extractive, mode="generative", generated=clean_answer(generated), grounding=FALLBACK)
    source = context[located.passage_index]
    start, end = located.start, located.end
    if not located.items:
        inner_start, inner_end = trim_answer(question, source.text[start:end])
        start, end = start + inner_start, start + inner_end
    own = next((c for c in extractive.citations if (c.memo_id, c.start) == (source.memo_id, source.start)), None)
    cited = own or Citation(source.memo_id, source.start, source.end, source.text, 0.0)
    span = Citation(source.memo_id, source.start + start, source.start + end, source.text[start:end], cited.score)
    citations = (cited, *(c for c in extractive.citations if c is not own))
    # A list answer keeps the model's own wording ("A, B and C"); each item is verbatim in the cited sentence.
    text = clean_answer(generated) if located.items else span.quote
    return replace(extractive, answer=text, span=span, citations=citations, mode="generative",
                   generated=clean_answer(generated), grounding=GROUNDED)


def stream_answer(
    question: str,
    scored: list[tuple[float, Passage]],
    extractive: Answer,
    generator: Generator,
    settings: GenerativeSettings,
) -> Iterator[str | Answer]:
    """The model's tokens as they come, then the grounded ``Answer`` last. When retrieval found no support
    the model is not asked: only the abstention comes."""
    if extractive.abstained:
        yield replace(extractive, mode="generative", grounding=ABSTAINED)
        return
    context = context_for(scored, settings)
    pieces: list[str] = []
    for piece in generator.stream(answer_prompt(question, [p.text for p in context]), settings.max_tokens):
        pieces.append(piece)
        yield piece
        if "\n" in piece:
            break  # the answer is one line; stop the model instead of letting it ramble
    yield ground_answer(question, "".join(pieces), context, extractive)
