"""The product's Qwen GGUF on onnxruntime-genai (int4, CPU): a one-time, stamped conversion and a generator
with models.llm's interface. Runs in a venv of its own, outside the repo (none of this is in requirements):

    python3 -m venv /work/ortg-venv && /work/ortg-venv/bin/pip install torch==2.13.0
    /work/ortg-venv/bin/pip install onnxruntime-genai==0.18.0 onnxruntime==1.32.0 transformers==5.24.0 \\
        gguf==0.19.0 accelerate==1.15.0 onnx==1.23.2 onnx-ir==1.1.0 numpy==2.4.6
    /work/ortg-venv/bin/python scripts/ort_genai.py --gguf ~/.cache/memo-service/models/qwen-0.5b.gguf

Conversion: GGUF -> Hugging Face safetensors (transformers ``gguf_file=``, dequantised to fp32) -> ONNX
int4 (``onnxruntime_genai.models.builder``: RTN, block 32, symmetric, int8 activations on the CPU). The
weights are so quantised twice, by different schemes (Q4_K_M, then int4 RTN).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.llm import _CHATML, _SYSTEM, SPECS, default_cache_dir  # noqa: E402  (stdlib only: fine in any venv)

MODEL = "qwen-0.5b"
STAMP_FORMAT = "memo-service ort-genai v1"
# prune_lm_head: during the prefill, logits of the last prompt token only, as llama.cpp computes them.
BUILDER_ARGS = ("-p", "int4", "-e", "cpu", "--extra_options", "prune_lm_head=true")


def default_model_dir() -> Path:
    """``~/.cache/memo-service/ort-genai/qwen-0.5b-int4`` (beside the product's model cache)."""
    return default_cache_dir().parent / "ort-genai" / f"{MODEL}-int4"


def chatml(prompt: str) -> str:
    """The text a gpt4all chat session feeds the model: system turn, user turn, open assistant turn."""
    return _SYSTEM + _CHATML.split("{1}")[0].format(prompt)


def versions(*packages: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc (``VmRSS`` now, ``VmHWM`` its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class OrtGenaiGenerator:
    """An onnxruntime-genai model on the CPU behind models.llm's Generator interface: greedy, the same
    ChatML turns as ``Gpt4AllGenerator``, one generation at a time. Repeat penalty as the product sets it
    (1.1), but onnxruntime-genai applies it to the whole sequence, llama.cpp to the last 64 tokens."""

    def __init__(self, model_dir: Path, name: str = MODEL, threads: int = 2, repeat_penalty: float = 1.1) -> None:
        import onnxruntime_genai as og

        problem = stamp_problem(model_dir)
        if problem:
            raise RuntimeError(f"{model_dir}: {problem} (convert it first: scripts/ort_genai.py)")
        self._og = og
        self.name = name
        config = og.Config(str(model_dir))
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {
            "intra_op_num_threads": threads, "inter_op_num_threads": 1}}}}))
        self._model = og.Model(config)
        self._tokenizer = og.Tokenizer(self._model)
        self._repeat_penalty = repeat_penalty
        self._lock = threading.Lock()

    def count_tokens(self, prompt: str) -> int:
        """Tokens the model reads for ``prompt``, chat turns included."""
        return len(self._tokenizer.encode(chatml(prompt)))

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        og = self._og
        with self._lock:
            tokens = self._tokenizer.encode(chatml(prompt))
            params = og.GeneratorParams(self._model)
            params.set_search_options(do_sample=False, max_length=len(tokens) + max_tokens,
                                      repetition_penalty=self._repeat_penalty)
            generator = og.Generator(self._model, params)
            generator.append_tokens(tokens)  # the prefill
            decoder = self._tokenizer.create_stream()
            while not generator.is_done():
                generator.generate_next_token()
                piece = decoder.decode(generator.get_next_tokens()[0])
                if piece:  # a partial UTF-8 character decodes to "" until it completes
                    yield piece


def stamp_problem(model_dir: Path) -> str | None:
    """Why the converted model in ``model_dir`` cannot be used, or None: the stamp must name the same
    source hash and builder arguments, and every file must have the size it had."""
    stamp = model_dir / "stamp.json"
    if not stamp.exists():
        return "no converted model (no stamp)"
    meta = json.loads(stamp.read_text())
    if meta.get("format") != STAMP_FORMAT or meta.get("source_sha256") != SPECS[MODEL].sha256:
        return "stamp is for another source"
    if tuple(meta.get("builder_args", ())) != BUILDER_ARGS:
        return "stamp has other builder arguments"
    for name, size in meta["files"].items():
        if not (model_dir / name).is_file() or (model_dir / name).stat().st_size != size:
            return f"{name} is missing or changed"
    return None


def convert(gguf: Path, target: Path) -> dict:
    """GGUF -> HF (in this process) -> ONNX int4 (the builder, in a child), built in a temporary directory
    beside ``target`` and renamed into place with its stamp, which also records times and peak memory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        started = time.perf_counter()
        # dequantize=True: plain fp32 Linear layers (transformers otherwise keeps GGUF blocks and will not save)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True))
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(work / "hf")
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(work / "hf")
        del model
        to_hf_s, to_hf_peak = time.perf_counter() - started, status_mb("VmHWM")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(work / "hf"),
                        "-o", str(work / "onnx"), "-c", str(work / "cache"), *BUILDER_ARGS], check=True)
        out = work / "onnx"
        meta = {
            "format": STAMP_FORMAT, "source": MODEL, "source_sha256": SPECS[MODEL].sha256,
            "builder_args": list(BUILDER_ARGS),
            "versions": versions("onnxruntime-genai", "onnxruntime", "transformers", "gguf", "torch"),
            "gguf_to_hf_s": round(to_hf_s, 1), "gguf_to_hf_peak_rss_mb": to_hf_peak,
            "hf_to_onnx_s": round(time.perf_counter() - started, 1),
            "hf_to_onnx_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "files": {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()},
        }
        (out / "stamp.json").write_text(json.dumps(meta, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(out, target)
        return meta
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True, help="the verified GGUF (models.llm.assemble)")
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--force", action="store_true", help="convert even when the stamp is good")
    args = parser.parse_args()
    problem = stamp_problem(args.model_dir)
    if problem or args.force:
        print(json.dumps(convert(args.gguf, args.model_dir), indent=1))
    else:
        print(f"{args.model_dir} is converted and stamped")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    main()
