"""Generative answers: the LLM reads the best sentences and answers in a short phrase, which must be found
verbatim in them (then it is cited), else the extractive answer stands."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from models.llm.spec import Generator
from models.nlp.candidates import Phrase
from service.types import Answer, Citation, Passage
from service.answer.grounding import clean_answer, is_refusal, locate, locate_head, locate_tail
from service.retrieval.lexical import STOP_WORDS, terms, words
from service.answer.phrases import fits_type, narrow_clause, narrows_clause, trim_answer
from service.llm.prompts import answer_prompt, verify_prompt

GROUNDED = "grounded"  # the model's answer is a verbatim span of a cited sentence
FALLBACK = "extractive-fallback"  # the model's answer was not found in the sentences it read (or it declined)
ABSTAINED = "abstained"  # retrieval found no support: the model was not asked
# retrieval's support was too weak for the extractive answer but enough to ask the model, and the model's
# answer was not found in what it read (or it declined): an abstention, not the weak sentence
DECLINED = "declined"


@dataclass(frozen=True)
class GenerativeSettings:
    # The model reads the best-scored sentences, a block per memo in text order. It can also read, around the
    # best one, its neighbours and its memo's opening sentences (``neighbours``, ``lead``): for qwen-0.5b that
    # read worse on every dev set (F1, first 80 news questions, lead / digest layouts: 0.367 / 0.383 with
    # the 3 sentences alone, 0.315 / 0.325 with a neighbour either side and the lead; XQuAD's first 150:
    # 0.508 / 0.454); qwen-1.5b also read worse with 3 lead sentences and a neighbour either side (news lead
    # set with the weak-support gate: contained 0.713 / 0.688), so both are off (docs/llm.md).
    sentences: int = 3
    # They can be chosen among the sentences of the ``depth`` best chunks when that is more than the question's
    # k (0: the k chunks, as the extractive answer; its support, citations and the gate stay those of the k
    # either way). With qwen-1.5b and 10 the model found more right answers on the news dev sets, but from
    # memos outside the 5 best chunks, whose support is weak: the gate declined them (docs/quality.md).
    depth: int = 0
    neighbours: int = 0
    lead: int = 0
    max_tokens: int = 32
    # A memo's best sentence must itself support the question this well (the /ask score): a memo that
    # merely sits near the question ("answer everything with X") never reaches the prompt.
    min_score: float = 0.3
    # The model is also asked when retrieval's support is below the extractive abstention threshold but at
    # least this (None: never); such an answer stands only when it is grounded, else the question is
    # abstained (DECLINED): the model, not the threshold, tells a weakly supported answer from none.
    ask_below: float | None = None
    # Such an answer must also be of the type the question asks for (``answers_type``) and, with
    # ``verify_below``, confirmed by the model: asked whether the memo text it came from says it answers the
    # question (``confirmation``), its probability of "yes" (against "no"), plus ``verify_answer_weight`` times
    # how likely it was to open its reply with that answer rather than "unanswerable" (``answering``), plus
    # ``verify_support_weight`` times retrieval's support, must reach ``verify_min``: the three signals tell
    # right from wrong weak answers better together than any alone (AUC over the logged weak answers of
    # qwen-1.5b, docs/quality.md). The weights and 1.3 were chosen on the first 80 questions of the news lead
    # and digest dev sets and XQuAD dev, and held on the check sets.
    verify_below: bool = True
    verify_support_weight: float = 0.5
    verify_answer_weight: float = 0.5
    verify_min: float = 1.3
    # What the confirmation reads besides the answer's memo passages the model answered from: the answer
    # sentence's ``verify_neighbours`` either side and its memo's first ``verify_lead`` sentences. Both off:
    # for qwen-1.5b neither told right from wrong weak answers better (news lead / digest dev, docs/quality.md).
    verify_neighbours: int = 0
    verify_lead: int = 0
    # A grounded answer's confidence: sigmoid(slope * logit(extractive confidence) + bias, + agree_bias when
    # the model's span overlaps the extractive answer). Fit on the grounded answers of qwen-0.5b over
    # XQuAD dev and the long news memos (docs/quality.md): answers that agree were right about 0.8 of the
    # time, those that do not about 0.5, whatever the retrieval support. A fallback keeps the extractive
    # answer's confidence.
    confidence_slope: float = 0.15
    confidence_bias: float = -0.35
    agree_bias: float = 1.41


# a passage -> it with ``neighbours`` sentences either side and its memo's first ``lead`` sentences
Surroundings = Callable[[Passage, int, int], list[Passage]]


@dataclass(frozen=True)
class Tentative:
    """A question the extractive tier abstains on, read by the model all the same (``ask_below``): the
    extractive answer at that threshold and retrieval's support for it."""

    answer: Answer
    support: float


def context_for(scored: list[tuple[float, Passage]], settings: GenerativeSettings,
                surroundings: Surroundings | None = None) -> list[list[Passage]]:
    """What the model reads, one list of passages (in text order) per memo, best-supported memo first."""
    best = [p for score, p in scored[: settings.sentences] if score >= settings.min_score]
    if not best:
        return []
    # reading around the best sentence fetches its memo's sentences: only when something around it is read
    reads_around = surroundings is not None and (settings.neighbours > 0 or settings.lead > 0)
    around = surroundings(best[0], settings.neighbours, settings.lead) if reads_around else [best[0]]
    blocks: dict[str, list[Passage]] = {}
    for passage in [*around, *best[1:]]:
        blocks.setdefault(passage.memo_id, []).append(passage)
    return [in_text_order(block) for block in blocks.values()]


def in_text_order(passages: list[Passage]) -> list[Passage]:
    """One memo's ``passages`` in text order, each sentence once (the first given)."""
    by_start: dict[int, Passage] = {}
    for passage in passages:
        by_start.setdefault(passage.start, passage)
    return sorted(by_start.values(), key=lambda p: p.start)


Phrases = Callable[[str, bool], list[Phrase]]


def confidence_of(extractive: Answer, span: Citation, settings: GenerativeSettings) -> float:
    """How likely a grounded answer is right: the extractive confidence recalibrated for the model's answers,
    higher when the model's span overlaps the extractive answer."""
    inner = extractive.span
    agrees = inner is not None and inner.memo_id == span.memo_id and inner.start < span.end and span.start < inner.end
    p = min(max(extractive.confidence, 1e-6), 1 - 1e-6)
    z = settings.confidence_slope * math.log(p / (1 - p)) + settings.confidence_bias + settings.agree_bias * agrees
    return round(1.0 / (1.0 + math.exp(-z)), 4)


def ground_answer(question: str, generated: str, context: list[Passage], extractive: Answer,
                  phrases: Phrases | None = None, settings: GenerativeSettings = GenerativeSettings()) -> Answer:
    """The model's text snapped to a verbatim span of the sentences it read, cited first; when it cannot
    be found there (or the model declined), the extractive answer, marked as the fallback. The span loses
    the edge words that only repeat the question (``trim_answer``); when the model wrote the words it
    copied inside a restatement of the question, the span is those words, if they carry most of what it
    added (``locate_tail``). A clause answering a who / when / where question narrows to the name or date
    in it that the question asks for (``narrow_clause``, candidates from ``phrases``)."""
    if is_refusal(generated):
        return _fallback(extractive, generated)
    texts = [p.text for p in context]
    located = locate(generated, texts)
    items = located is not None and located.items  # a list answer keeps its span as found
    if located is not None:
        source = context[located.passage_index]
        start, end = located.start, located.end
        if not items:
            inner_start, inner_end = trim_answer(question, source.text[start:end])
            start, end = start + inner_start, start + inner_end
    else:  # the answer restated the question around words it copied, at its end or its start: those words
        copied = _copied(question, generated, context)
        if copied is None:
            return _fallback(extractive, generated)
        source, start, end = copied
    if not items and phrases is not None:
        start, end = _narrowed(question, source.text, start, end, phrases)
    own = next((c for c in extractive.citations if (c.memo_id, c.start) == (source.memo_id, source.start)), None)
    cited = own or Citation(source.memo_id, source.start, source.end, source.text, 0.0)
    span = Citation(source.memo_id, source.start + start, source.start + end, source.text[start:end], cited.score)
    citations = (cited, *(c for c in extractive.citations if c is not own))
    # A list answer ("A, B and C", each item found in the sentence) is the sentence's own words from its
    # first item to its last, so that the answer, like every other, is the verbatim text of its span.
    return replace(extractive, answer=span.quote, span=span, citations=citations, mode="generative",
                   generated=clean_answer(generated), grounding=GROUNDED,
                   confidence=confidence_of(extractive, span, settings))


def _copied(question: str, generated: str, context: list[Passage]) -> tuple[Passage, int, int] | None:
    """Where the words the model copied into a restatement stand: the verbatim run that ends its answer,
    else the one that opens it, less the question's own words, if it carries most of what the model added
    (``_carries``)."""
    texts = [p.text for p in context]
    for found in (locate_tail(generated, texts), locate_head(generated, texts)):
        if found is None:
            continue
        source = context[found.passage_index]
        inner_start, inner_end = trim_answer(question, source.text[found.start:found.end])
        start, end = found.start + inner_start, found.start + inner_end
        if _carries(question, generated, source.text[start:end]):
            return source, start, end
    return None


def _fallback(extractive: Answer, generated: str) -> Answer:
    return replace(extractive, mode="generative", generated=clean_answer(generated), grounding=FALLBACK)


def _narrowed(question: str, sentence: str, start: int, end: int, phrases: Phrases) -> tuple[int, int]:
    """``[start, end)`` of ``sentence``, narrowed to the typed phrase inside it when it is a clause."""
    if not narrows_clause(question):
        return start, end
    # entities of the whole sentence (a model reads a fragment less well), those inside the span
    inside = [Phrase(c.start - start, c.end - start, c.label)
              for c in phrases(sentence, False) if start <= c.start and c.end <= end]
    inner = narrow_clause(question, sentence[start:end], inside)
    return (start + inner.start, start + inner.end) if inner else (start, end)


def _new_words(question: str, text: str) -> set[str]:
    """The content words of ``text`` that the question does not have."""
    asked = set(terms(question))
    return {w for w in words(text) if w not in STOP_WORDS and not set(terms(w)) <= asked}


def _carries(question: str, generated: str, kept: str) -> bool:
    """Whether the ``kept`` span holds more than half of the words the model's answer adds to the question
    (a copied "2010" of "2005 to 2010" does not)."""
    new = _new_words(question, clean_answer(generated))
    return bool(new) and 2 * len(new & _new_words(question, kept)) > len(new)


def confirmation(question: str, answer: Answer, context: list[Passage], generator: Generator,
                 surroundings: Surroundings | None = None, neighbours: int = 0, lead: int = 0) -> float:
    """How sure the model is, shown the passages of the answer's memo that it read (``context``), with the
    answer sentence's ``neighbours`` either side and the memo's first ``lead`` sentences (``surroundings``),
    that they give ``answer`` for ``question``: its probability of replying "yes" rather than "no" (one
    prefill)."""
    span = answer.span
    read = [p for p in context if span is not None and p.memo_id == span.memo_id]
    if not read:
        return 0.0
    source = next((p for p in read if p.start <= span.start < p.end), None)
    if surroundings is not None and source is not None and (neighbours > 0 or lead > 0):
        read = in_text_order([*read, *surroundings(source, neighbours, lead)])
    return generator.choose(verify_prompt(question, answer.answer or "", " ".join(p.text for p in read)),
                            ("yes", "no"))[0]


def answers_type(question: str, answer: Answer, phrases: Phrases | None) -> bool:
    """Whether a grounded answer can be of the type the question asks for, by the entities of the sentence
    it came from (``fits_type``: not a place for a who question, nor the question's own words; an answer
    overlapping no entity passes); True when the question asks for no type, or without a phrase finder."""
    if phrases is None or answer.span is None or not answer.citations:
        return True
    source = answer.citations[0]
    start, end = answer.span.start - source.start, answer.span.end - source.start
    return fits_type(question, source.quote, start, end, phrases(source.quote, False))


def asks_model(extractive: Answer, tentative: Tentative | None = None) -> bool:
    """Whether the model reads for this question: the extractive tier answers, or, below its threshold,
    the ``ask_below`` one (``tentative``) does."""
    return not extractive.abstained or (tentative is not None and not tentative.answer.abstained)


def answering(prompt: str, answer: Answer, generator: Generator) -> float:
    """How likely the model, given the answer ``prompt``, opens its reply with ``answer`` (the text it wrote)
    rather than "unanswerable" (one prefill: right after the answer, the model still holds the prompt)."""
    return generator.choose(prompt, (answer.generated or answer.answer or "", "unanswerable"))[0]


def confirmed(question: str, answer: Answer, context: list[Passage], generator: Generator,
              settings: GenerativeSettings, support: float, phrases: Phrases | None = None,
              surroundings: Surroundings | None = None, prompt: str | None = None) -> bool:
    """Whether a weakly supported, grounded answer stands: of the type the question asks for and, with
    ``verify_below``, confirmed by the model: its P(yes), plus the weighted ``answering`` odds of the answer
    ``prompt`` it answered and the weighted ``support``, reaching ``verify_min``."""
    if not answers_type(question, answer, phrases):
        return False
    if not settings.verify_below:
        return True
    score = settings.verify_support_weight * support
    if settings.verify_answer_weight and prompt is not None:
        score += settings.verify_answer_weight * answering(prompt, answer, generator)
    score += confirmation(question, answer, context, generator, surroundings, settings.verify_neighbours,
                          settings.verify_lead)
    return score >= settings.verify_min


def stream_answer(
    question: str,
    scored: list[tuple[float, Passage]],
    extractive: Answer,
    generator: Generator,
    settings: GenerativeSettings,
    phrases: Phrases | None = None,
    surroundings: Surroundings | None = None,
    tentative: Tentative | None = None,
    weak_support: float | None = None,
) -> Iterator[str | Answer]:
    """The model's tokens as they come, then the grounded ``Answer`` last. When retrieval found no support
    the model is not asked: only the abstention comes. ``tentative``: for a question the extractive tier
    abstains on, its answer at the ``ask_below`` threshold and its support: the model reads, and its answer
    stands only when grounded and ``confirmed`` (the type the question asks for; the model's confirmation
    with the support): ``weak_support`` marks that inner call."""
    if extractive.abstained and asks_model(extractive, tentative):
        answered = None
        for item in stream_answer(question, scored, tentative.answer, generator, settings, phrases, surroundings,
                                  weak_support=tentative.support):
            if isinstance(item, Answer):
                answered = item
            else:
                yield item
        if answered is not None and answered.grounding == GROUNDED:
            yield answered
        else:
            yield replace(extractive, mode="generative", generated=answered.generated if answered else None,
                          grounding=DECLINED)
        return
    if extractive.abstained:
        yield replace(extractive, mode="generative", grounding=ABSTAINED)
        return
    blocks = context_for(scored, settings, surroundings)
    context = [p for block in blocks for p in block]
    pieces: list[str] = []
    prompt = answer_prompt(question, [" ".join(p.text for p in block) for block in blocks])
    for piece in generator.stream(prompt, settings.max_tokens):
        if not piece:
            continue  # the model is still reading the prompt
        pieces.append(piece)
        yield piece
        if "\n" in piece:
            break  # the answer is one line; stop the model instead of letting it ramble
    generated = "".join(pieces)
    answered = ground_answer(question, generated, context, extractive, phrases, settings)
    if weak_support is not None and answered.grounding == GROUNDED and not confirmed(
            question, answered, context, generator, settings, weak_support, phrases, surroundings, prompt):
        answered = _fallback(extractive, generated)
    yield answered
