"""Model registry: a config name maps to a factory, so real models and test fakes load the same way."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from models.embedder import Embedder

EmbedderFactory = Callable[[], "Embedder"]

_EMBEDDERS: dict[str, EmbedderFactory] = {}


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
