"""The LLM in gpt4all's prebuilt llama.cpp backend (a wheel, no compile): it reads the GGUF as it is."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator, Sequence

from models.llm.spec import CHATML, SYSTEM, choose_by_text


class Gpt4AllGenerator:
    """A GGUF model in gpt4all's llama.cpp backend on the CPU: greedy, a fresh chat per call. One
    generation at a time (the backend holds one context); callers queue on a lock."""

    def __init__(self, path: Path, name: str, threads: int = 2, context: int = 2048, batch: int = 128) -> None:
        from gpt4all import GPT4All

        self.name = name
        self._model = GPT4All(path.name, model_path=str(path.parent), allow_download=False, device="cpu",
                              n_threads=threads, n_ctx=context, verbose=False)
        self._batch = batch
        self._lock = threading.Lock()

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def choose(self, prompt: str, choices: Sequence[str]) -> list[float]:
        """The backend shows no probabilities: the choice the greedy reply opens with."""
        return choose_by_text(self, prompt, choices)

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Tokens as the backend makes them. Closing the iterator early stops the backend at its next
        token (its callback says stop) and waits for it to finish before the next call may start."""
        stop = threading.Event()
        with self._lock, self._model.chat_session(system_prompt=SYSTEM, prompt_template=CHATML):
            tokens = self._model.generate(
                prompt, max_tokens=max_tokens, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.1,
                n_batch=self._batch, streaming=True, callback=lambda _id, _text: not stop.is_set(),
            )
            try:
                yield from tokens
            finally:
                stop.set()
                for _ in tokens:  # drain: the backend thread runs until it sees the stop
                    pass
