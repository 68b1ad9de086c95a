"""The LLM on onnxruntime-genai (int4 ONNX, CPU), converted once from the packaged GGUF (models.llm.conversion)."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from models.llm.spec import chatml


def penalise_repeats(logits: np.ndarray, recent: Sequence[int], penalty: float) -> np.ndarray:
    """llama.cpp's repeat penalty: the logit of every token among ``recent`` is divided by ``penalty`` when
    positive, multiplied when negative. ``logits`` is changed in place and returned."""
    if penalty == 1.0 or not len(recent):
        return logits
    ids = np.unique(np.asarray(recent, dtype=np.int64))
    row = logits.reshape(-1, logits.shape[-1])[-1]
    row[ids] = np.where(row[ids] > 0, row[ids] / penalty, row[ids] * penalty)
    return logits


# The prompt is read in parts of this many tokens, so that a reader can stop the model between two (a background
# brief giving way to a request); the whole prompt in one part would be read in one uninterruptible step. With
# qwen-1.5b on two cores a part of 32 takes about 0.4 s, and reading in parts was no slower than reading whole
# (docs/performance.md, "A request during a background brief").
PREFILL_CHUNK = 32


# One generator is kept between calls, with room for this many tokens, prompt and reply; a longer call gets a
# generator of its own. A prompt is read from where it first differs from the prompt read before it (the kept
# generator is rewound there): prompts share their opening (chat turns, preamble: ~30 tokens), and a question's
# confirmation, a repeated question or one over the same passages share much more (docs/performance.md, "A
# request during a background brief").
KEPT_LENGTH = 2048


class _Prefill:
    """Iterating appends the prompt's tokens from ``start`` on to ``value`` (an onnxruntime-genai generator)
    one part at a time, yielding after each part but the last; ``read`` counts the tokens it holds."""

    def __init__(self, value, tokens: Sequence[int], chunk: int, start: int = 0, kept: bool = False) -> None:
        self.value, self._tokens, self._chunk = value, tokens, max(1, chunk)
        self.read = start
        self.kept = kept  # the generator kept between calls (else one of this call's own)

    def __iter__(self) -> Iterator[None]:
        first = self.read
        for start in range(first, len(self._tokens), self._chunk):
            if start > first:
                yield
            self.value.append_tokens(self._tokens[start:start + self._chunk])
            self.read = min(len(self._tokens), start + self._chunk)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens ``a`` and ``b`` share from their start."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class OrtGenaiGenerator:
    """Greedy decoding, the same chat turns as the gpt4all runtime, one generation at a time (callers queue
    on a lock). The repeat penalty is llama.cpp's, as gpt4all applies it: over the last ``repeat_last_n``
    tokens of the sequence. onnxruntime-genai's own ``repetition_penalty`` counts every token of the prompt,
    which pushes the model away from the memo's own words (answers must copy them), so it stays off and the
    penalty is applied to the logits here, between tokens."""

    def __init__(self, model_dir: Path, name: str, threads: int = 2, repeat_penalty: float = 1.1,
                 repeat_last_n: int = 64, prefill_chunk: int = PREFILL_CHUNK, reuse_prefix: bool = True) -> None:
        import onnxruntime_genai as og

        self._og = og
        self.name = name
        config = og.Config(str(model_dir))
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {
            "intra_op_num_threads": threads, "inter_op_num_threads": 1}}}}))
        self._model = og.Model(config)
        self._tokenizer = og.Tokenizer(self._model)
        self._repeat = (repeat_penalty, repeat_last_n)
        self.prefill_chunk = prefill_chunk
        self.reuse_prefix = reuse_prefix
        self._kept: tuple[object, list[int]] | None = None  # a generator and the prompt tokens it holds
        self._lock = threading.Lock()

    def count_tokens(self, prompt: str) -> int:
        """Tokens the model reads for ``prompt``, chat turns included."""
        return len(self._tokenizer.encode(chatml(prompt)))

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def choose(self, prompt: str, choices: Sequence[str]) -> list[float]:
        """How likely the reply opens with each of ``choices`` (one-word replies such as "yes" / "no"): the
        model's next-token probabilities after the prompt, summed over each choice's spellings (lower case,
        capitalised, upper case) and normalised over the choices. One prefill, no token generated."""
        with self._lock:
            _, generator = self._prefilled(prompt, 1)
            logits = np.array(generator.get_logits(), dtype=np.float64).reshape(-1)
        weights = np.exp(logits - logits.max())
        mass = []
        for choice in choices:
            ids = {int(self._tokenizer.encode(form)[0]) for form in (choice.lower(), choice.capitalize(), choice.upper())}
            mass.append(float(sum(weights[i] for i in ids)))
        total = sum(mass)
        return [m / total if total > 0 else 1.0 / len(choices) for m in mass]

    def _prefilled(self, prompt: str, max_tokens: int):
        """The prompt's tokens and a greedy generator that has read them (the prefill), with room for
        ``max_tokens`` more. Callers hold the lock."""
        tokens, reading = self._reading(prompt, max_tokens)
        try:
            for _ in reading:
                pass
        finally:
            self._keep(reading, tokens)
        return tokens, reading.value

    def _reading(self, prompt: str, max_tokens: int) -> tuple[list[int], _Prefill]:
        """The prompt's tokens and its prefill in steps of ``prefill_chunk`` tokens (iterate, then ``_keep``;
        ``value`` is the greedy generator that has read them). With ``reuse_prefix`` the kept generator is
        rewound to what this prompt shares with the one it read last, and reads the rest. Callers hold the
        lock."""
        tokens = [int(t) for t in self._tokenizer.encode(chatml(prompt))]
        if self.reuse_prefix and len(tokens) + max_tokens <= KEPT_LENGTH:
            if self._kept is None:
                self._kept = (self._generator(KEPT_LENGTH), [])
            generator, held = self._kept
            self._kept = None  # taken for this call; ``_keep`` gives it back with what it read (a stop part-way too)
            start = min(common_prefix(held, tokens), len(tokens) - 1)  # the last token gives the next logits
            generator.rewind_to(start)
            return tokens, _Prefill(generator, tokens, self.prefill_chunk, start, kept=True)
        return tokens, _Prefill(self._generator(len(tokens) + max_tokens), tokens, self.prefill_chunk)

    def _generator(self, max_length: int):
        params = self._og.GeneratorParams(self._model)
        params.set_search_options(do_sample=False, max_length=max_length, repetition_penalty=1.0)
        return self._og.Generator(self._model, params)

    def _keep(self, reading: _Prefill, tokens: list[int]) -> None:
        """Keep a reused generator for the next call, with the prompt tokens it has read (what it wrote after
        them is rewound next time)."""
        if reading.kept:
            self._kept = (reading.value, tokens[:reading.read])

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Text pieces as tokens come, after an empty piece per ``prefill_chunk`` tokens of the prompt read
        but the last. Closing the iterator early stops before the next token or the next part of the prompt."""
        with self._lock:
            tokens, reading = self._reading(prompt, max_tokens)
            try:
                for _ in reading:
                    yield ""  # still reading the prompt: a reader may stop the model here
            finally:
                self._keep(reading, tokens)
            generator = reading.value
            decoder = self._tokenizer.create_stream()
            penalty, last_n = self._repeat
            recent = list(tokens[-last_n:])
            for _ in range(max_tokens):
                if generator.is_done():
                    break
                if penalty != 1.0:
                    generator.set_logits(penalise_repeats(np.array(generator.get_logits()), recent, penalty))
                generator.generate_next_token()
                token = int(generator.get_next_tokens()[0])
                recent = (recent + [token])[-last_n:]
                piece = decoder.decode(token)
                if piece:  # a UTF-8 character split over tokens decodes to "" until it is complete
                    yield piece
