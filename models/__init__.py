"""Model registries: a config name maps to a factory, so real models and test fakes load the same way."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

if TYPE_CHECKING:
    from models.embedders import Embedder
    from models.llm.spec import Generator
    from models.nlp.candidates import PhraseFinder
    from models.nlp.entities import EntityExtractor
    from models.nlp.sentences import SentenceSplitter

T = TypeVar("T")


@dataclass(frozen=True)
class TextModels:
    """The models the stages read text with, handed around as one object."""

    embedder: "Embedder"
    splitter: "SentenceSplitter"
    phrases: "PhraseFinder"
    entities: "EntityExtractor"


class Registry(Generic[T]):
    """Names to factories for one kind of model."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[[], T]] = {}

    def register(self, name: str, factory: Callable[[], T]) -> None:
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def build(self, name: str) -> T:
        """Build the model registered under ``name``; raises KeyError with the known names."""
        try:
            factory = self._factories[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None
        return factory()


EMBEDDERS: Registry["Embedder"] = Registry("embedder")
ENTITY_EXTRACTORS: Registry["EntityExtractor"] = Registry("entity extractor")
PHRASE_FINDERS: Registry["PhraseFinder"] = Registry("phrase finder")
GENERATORS: Registry["Generator"] = Registry("LLM")


def register_embedder(name: str, factory: Callable[[], "Embedder"]) -> None:
    """Make an embedder available under ``name`` (``MEMO_EMBEDDER``)."""
    EMBEDDERS.register(name, factory)


def embedder_names() -> list[str]:
    """Names that ``get_embedder`` accepts."""
    return EMBEDDERS.names()


def get_embedder(name: str) -> "Embedder":
    """Build the embedder registered under ``name``; raises KeyError with the known names."""
    return EMBEDDERS.build(name)


def register_entity_extractor(name: str, factory: Callable[[], "EntityExtractor"]) -> None:
    """Make an entity extractor available under ``name`` (``MEMO_ENTITIES``)."""
    ENTITY_EXTRACTORS.register(name, factory)


def get_entity_extractor(name: str) -> "EntityExtractor":
    """Build the entity extractor registered under ``name``; raises KeyError with the known names."""
    return ENTITY_EXTRACTORS.build(name)


def register_phrase_finder(name: str, factory: Callable[[], "PhraseFinder"]) -> None:
    """Make a phrase finder available under ``name`` (``MEMO_PHRASES``)."""
    PHRASE_FINDERS.register(name, factory)


def get_phrase_finder(name: str) -> "PhraseFinder":
    """Build the phrase finder registered under ``name``; raises KeyError with the known names."""
    return PHRASE_FINDERS.build(name)


def register_generator(name: str, factory: Callable[[], "Generator"]) -> None:
    """Make an LLM available under ``name`` (``MEMO_LLM``)."""
    GENERATORS.register(name, factory)


def get_generator(name: str) -> "Generator":
    """Build the LLM registered under ``name``; raises KeyError with the known names."""
    return GENERATORS.build(name)


def _minilm() -> "Embedder":
    from models.embedders.sentence_transformers import load_minilm

    return load_minilm()


def _spacy_sm() -> "EntityExtractor":
    from models.nlp.entities import load_spacy_entities

    return load_spacy_entities()


def _no_entities() -> "EntityExtractor":
    from models.nlp.entities import NoEntities

    return NoEntities()


def _minilm_int8() -> "Embedder":
    from models.embedders.onnx import load_minilm_int8

    return load_minilm_int8()


def _minilm_q8() -> "Embedder":
    from models.embedders.onnx import load_minilm_q8

    return load_minilm_q8()


def _minilm_s8() -> "Embedder":
    from models.embedders.onnx import load_minilm_s8

    return load_minilm_s8()


register_embedder("minilm", _minilm)
register_embedder("minilm-int8", _minilm_int8)
register_embedder("minilm-q8", _minilm_q8)
register_embedder("minilm-s8", _minilm_s8)
register_entity_extractor("spacy", _spacy_sm)
register_entity_extractor("none", _no_entities)


def _spacy_phrases() -> "PhraseFinder":
    from models.nlp.candidates import SpacyPhraseFinder

    return SpacyPhraseFinder()


def _no_phrases() -> "PhraseFinder":
    from models.nlp.candidates import NoPhrases

    return NoPhrases()


register_phrase_finder("spacy", _spacy_phrases)
register_phrase_finder("none", _no_phrases)


def _qwen(name: str, runtime: str) -> Callable[[], "Generator"]:
    def load() -> "Generator":
        from models.llm.loader import load_qwen

        return load_qwen(name, runtime)

    return load


def _register_qwen() -> None:
    from models.llm.spec import CHOICES  # the standard library only

    for choice, (name, runtime) in CHOICES.items():
        register_generator(choice, _qwen(name, runtime))


_register_qwen()
