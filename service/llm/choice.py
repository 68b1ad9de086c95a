"""Which LLM ``MEMO_LLM`` names: built (joined, verified, converted) and loaded, or refused in one line
(``LlmUnavailable``) when this installation does not know it or cannot have it."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from models.llm.spec import Generator
from service.errors import LlmUnavailable


@contextmanager
def _llm_choice(choice: str) -> Iterator[None]:
    """LlmUnavailable, one line, for a ``MEMO_LLM`` this installation does not know or a model it neither holds
    nor can build, instead of a traceback or a conversion that cannot succeed."""
    from models import GENERATORS
    from models.llm.spec import ModelUnavailable

    if choice not in GENERATORS.names():
        raise LlmUnavailable(choice, f"unknown; known: {', '.join(GENERATORS.names())}, none")
    try:
        yield
    except ModelUnavailable as exc:
        raise LlmUnavailable(choice, str(exc)) from None


def prepare_generator(choice: str) -> None:
    """Join, verify and convert what the LLM ``choice`` needs (once, cached), without loading it."""
    from models.llm.loader import prepare

    with _llm_choice(choice):
        prepare(choice)


def load_generator(choice: str) -> Generator:
    """The LLM ``choice`` names (``MEMO_LLM``), loaded."""
    from models import get_generator

    with _llm_choice(choice):
        return get_generator(choice)
