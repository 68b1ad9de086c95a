"""Load the packaged LLM in a runtime behind the ``Generator`` interface, building what it needs first.

Runtimes (``scripts/bench_runtimes.py`` measures them side by side on the same prompts):
- ``onnxruntime-genai`` (the default): int4 ONNX converted once from the verified GGUF
  (``models.llm.conversion``, stamped and cached), run by ``models.llm.ort``; 2-3x faster here.
- ``gpt4all``: its prebuilt llama.cpp backend reads the GGUF as it is (``models.llm.gpt4all``); no
  conversion, less memory. ``MEMO_LLM=qwen-0.5b-gpt4all`` / ``qwen-1.5b-gpt4all``.

The runtimes and the conversion are imported only when a model is built or loaded.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from models.cache import default_cache_dir
from models.llm.package import assemble
from models.llm.spec import CHOICES, RUNTIMES, SPECS, Generator, ModelUnavailable

# What converting a GGUF for onnxruntime-genai imports (requirements-convert.txt). A serving-only install (the
# container image) has none of it: it ships its default model converted, and converts nothing at start.
CONVERTER = ("torch", "transformers", "gguf")


def _not_installed(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def ready(cache_dir: Path | None = None) -> list[str]:
    """The ``CHOICES`` that load from the model cache as they are, with nothing joined or converted first."""
    from models.llm.conversion import converted_dir, stamp_problem

    cache = cache_dir or default_cache_dir()
    out = []
    for choice, (name, runtime) in CHOICES.items():
        if runtime == "gpt4all":
            if (cache / f"{name}.gguf").is_file() and not _not_installed(("gpt4all",)):
                out.append(choice)
        elif stamp_problem(SPECS[name], converted_dir(SPECS[name], cache)) is None:
            out.append(choice)
    return out


def _check_buildable(name: str, runtime: str, cache: Path, problem: str | None) -> None:
    """Refuse, naming what is missing, a model that cannot be built here, before a gigabyte is joined or a
    conversion starts (in the image: MEMO_LLM=qwen-1.5b, neither its parts nor the converter installed)."""
    missing = []
    parts = _not_installed(SPECS[name].packages) if not (cache / f"{name}.gguf").is_file() else []
    if parts:
        missing.append(f"the GGUF's packages ({parts[0]}" + (f" and {len(parts) - 1} more)" if len(parts) > 1 else ")"))
    runtime_needs = _not_installed(("gpt4all",) if runtime == "gpt4all" else CONVERTER)
    if runtime_needs:
        missing.append(f"{'the runtime' if runtime == 'gpt4all' else 'the converter'} ({', '.join(runtime_needs)})")
    if missing:
        why = f" ({problem})" if problem else ""
        raise ModelUnavailable(f"{name} for {runtime} is not ready in {cache}{why} and cannot be built here: "
                               f"not installed: {'; '.join(missing)} (make install). Ready in this model "
                               f"cache: {', '.join(ready(cache)) or 'none'}")


def _build(name: str, runtime: str, cache: Path) -> Path:
    """The file or directory ``runtime`` loads for model ``name``: the verified GGUF, for onnxruntime-genai
    its converted form (both built once and cached). A converted model whose stamp holds (it names the
    GGUF's pinned hash) is loaded without the GGUF: the container image ships only the converted model."""
    spec = SPECS[name]
    if runtime != "gpt4all":
        from models.llm.conversion import converted_dir, ensure_converted, stamp_problem

        problem = stamp_problem(spec, converted_dir(spec, cache))
        if problem is None:
            return converted_dir(spec, cache)
    else:
        problem = None
    _check_buildable(name, runtime, cache, problem)
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


def load_qwen(name: str, runtime: str = "onnxruntime-genai", cache_dir: Path | None = None,
              in_process: bool = False) -> Generator:
    """``qwen-0.5b`` or ``qwen-1.5b`` (Qwen2.5-Coder-*-Instruct, Q4_K_M) from their packages, in
    ``runtime``. The first call assembles (and for onnxruntime-genai converts) and caches; later ones load
    the cache after checking its stamp. The model runs in a child process of its own (``ProcessGenerator``:
    onnxruntime-genai's prefill would otherwise hold this process's GIL for seconds) unless ``in_process``."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown LLM runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    path = _build(name, runtime, cache_dir or default_cache_dir())
    opener = functools.partial(open_generator, runtime, path, name)
    if in_process:
        return opener()
    from models.llm.process import ProcessGenerator

    return ProcessGenerator(opener)


def open_generator(runtime: str, path: Path, name: str) -> Generator:
    """The generator over a built model at ``path``, in this process."""
    if runtime == "gpt4all":
        from models.llm.gpt4all import Gpt4AllGenerator

        return Gpt4AllGenerator(path, name=f"{name}-gpt4all")
    from models.llm.ort import OrtGenaiGenerator

    return OrtGenaiGenerator(path, name=name)
