"""Sentence embedders behind one tiny interface, ``embed(texts) -> (n, dim) float32``, L2-normalised:
``sentence_transformers`` (MiniLM fp32 on torch), ``onnx`` (MiniLM int8, q8 or s8 under onnxruntime),
``quantization`` (the q8 model, made once), ``static_quantization`` (the s8 model: fixed activation scales),
``batching`` (length-sorted batches)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    import numpy as np


class Embedder(Protocol):
    """What the engine needs from an embedding model."""

    name: str
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return one L2-normalised float32 row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece count of each text, without special tokens (for chunk sizing)."""
        ...
