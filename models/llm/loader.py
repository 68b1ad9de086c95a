"""Load the packaged LLM in a runtime behind the ``Generator`` interface, building what it needs first.

Runtimes (``scripts/bench_runtimes.py`` measures them side by side on the same prompts):
- ``onnxruntime-genai`` (the default): int4 ONNX converted once from the verified GGUF
  (``models.llm.conversion``, stamped and cached), run by ``models.llm.ort``; 2-3x faster here.
- ``gpt4all``: its prebuilt llama.cpp backend reads the GGUF as it is (``models.llm.gpt4all``); no
  conversion, less memory. ``MEMO_LLM=qwen-0.5b-gpt4all`` / ``qwen-1.5b-gpt4all``.

The runtimes and the conversion are imported only when a model is built or loaded.
"""
from __future__ import annotations

from pathlib import Path

from models.cache import default_cache_dir
from models.llm.package import assemble
from models.llm.spec import CHOICES, RUNTIMES, SPECS, Generator


def _build(name: str, runtime: str, cache: Path) -> Path:
    """The file or directory ``runtime`` loads for model ``name``: the verified GGUF, for onnxruntime-genai
    its converted form (both built once and cached). A converted model whose stamp holds (it names the
    GGUF's pinned hash) is loaded without the GGUF: the container image ships only the converted model."""
    spec = SPECS[name]
    if runtime != "gpt4all":
        from models.llm.conversion import converted_dir, ensure_converted, stamp_problem

        if stamp_problem(spec, converted_dir(spec, cache)) is None:
            return converted_dir(spec, cache)
    gguf = assemble(spec, cache)
    if runtime == "gpt4all":
        return gguf
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
        from models.llm.gpt4all import Gpt4AllGenerator

        return Gpt4AllGenerator(path, name=f"{name}-gpt4all")
    from models.llm.ort import OrtGenaiGenerator

    return OrtGenaiGenerator(path, name=name)
