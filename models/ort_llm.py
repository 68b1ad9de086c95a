"""The LLM on onnxruntime-genai (int4 ONNX, CPU), converted once from the packaged GGUF (models.ort_conversion)."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterator

from models.llm import chatml


class OrtGenaiGenerator:
    """Greedy decoding, the same chat turns as the gpt4all runtime, one generation at a time (callers queue
    on a lock). No repetition penalty: onnxruntime-genai applies it to the whole sequence, prompt included,
    so it would push the model away from the memo's own words, which answers must copy."""

    def __init__(self, model_dir: Path, name: str, threads: int = 2) -> None:
        import onnxruntime_genai as og

        self._og = og
        self.name = name
        config = og.Config(str(model_dir))
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {
            "intra_op_num_threads": threads, "inter_op_num_threads": 1}}}}))
        self._model = og.Model(config)
        self._tokenizer = og.Tokenizer(self._model)
        self._lock = threading.Lock()

    def count_tokens(self, prompt: str) -> int:
        """Tokens the model reads for ``prompt``, chat turns included."""
        return len(self._tokenizer.encode(chatml(prompt)))

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Text pieces as tokens come. Closing the iterator early stops before the next token."""
        og = self._og
        with self._lock:
            tokens = self._tokenizer.encode(chatml(prompt))
            params = og.GeneratorParams(self._model)
            params.set_search_options(do_sample=False, max_length=len(tokens) + max_tokens, repetition_penalty=1.0)
            generator = og.Generator(self._model, params)
            generator.append_tokens(tokens)  # the prefill
            decoder = self._tokenizer.create_stream()
            while not generator.is_done():
                generator.generate_next_token()
                piece = decoder.decode(generator.get_next_tokens()[0])
                if piece:  # a UTF-8 character split over tokens decodes to "" until it is complete
                    yield piece
