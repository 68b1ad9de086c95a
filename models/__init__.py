"""Model registry: a config name maps to a factory, so real models and test fakes load the same way."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from models.embedder import Embedder
    from models.phrases import PhraseFinder

EmbedderFactory = Callable[[], "Embedder"]

_EMBEDDERS: dict[str, EmbedderFactory] = {}
_PHRASE_FINDERS: dict[str, Callable[[], "PhraseFinder"]] = {}


def register_embedder(name: str, factory: EmbedderFactory) -> None:
    """Make an embedder available under ``name`` (``MEMO_EMBEDDER``)."""
    _EMBEDDERS[name] = factory


def embedder_names() -> list[str]:
    """Names that ``get_embedder`` accepts."""
    return sorted(_EMBEDDERS)


def get_embedder(name: str) -> "Embedder":
    """Build the embedder registered under ``name``; raises KeyError with the known names."""
    try:
        factory = _EMBEDDERS[name]
    except KeyError:
        raise KeyError(f"unknown embedder {name!r}; known: {', '.join(embedder_names())}") from None
    return factory()


def _minilm() -> "Embedder":
    from models.embedder import load_minilm

    return load_minilm()


register_embedder("minilm", _minilm)


def register_phrase_finder(name: str, factory: Callable[[], "PhraseFinder"]) -> None:
    """Make a phrase finder available under ``name`` (``MEMO_PHRASES``)."""
    _PHRASE_FINDERS[name] = factory


def get_phrase_finder(name: str) -> "PhraseFinder":
    try:
        factory = _PHRASE_FINDERS[name]
    except KeyError:
        raise KeyError(f"unknown phrase finder {name!r}; known: {', '.join(sorted(_PHRASE_FINDERS))}") from None
    return factory()


def _spacy_phrases() -> "PhraseFinder":
    from models.phrases import SpacyPhraseFinder

    return SpacyPhraseFinder()


def _no_phrases() -> "PhraseFinder":
    from models.phrases import NoPhrases

    return NoPhrases()


register_phrase_finder("spacy", _spacy_phrases)
register_phrase_finder("none", _no_phrases)
