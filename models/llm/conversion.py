"""One-time conversion of a verified GGUF to int4 ONNX for onnxruntime-genai, stamped and cached.

GGUF -> Hugging Face safetensors (transformers ``gguf_file=``, dequantised to fp32) -> ONNX int4
(``onnxruntime_genai.models.builder``: RTN, block 32, int8 activations on the CPU). The weights are thus
quantised twice by different schemes (Q4_K_M, then int4 RTN); ``scripts/bench_runtimes.py`` measures the
result against the GGUF itself. The conversion runs in a child process (torch and an fp32 copy of the model
live there, ~6.4 GB peak for the 0.5B model, never in the server), under a file lock, in a temporary
directory renamed into place with its stamp:

    python -m models.llm.conversion --model qwen-0.5b      # what load_qwen runs when the stamp is not good
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from models.cache import default_cache_dir, package_versions
from models.llm.package import assemble
from models.llm.spec import SPECS, ModelSpec, ModelUnavailable

STAMP_FORMAT = "memo-service ort-genai v1"
# prune_lm_head: during the prefill, logits of the last prompt token only, as llama.cpp computes them.
BUILDER_ARGS = ("-p", "int4", "-e", "cpu", "--extra_options", "prune_lm_head=true")


def converted_dir(spec: ModelSpec, cache_dir: Path) -> Path:
    """Where the converted model of ``spec`` lives in the model cache."""
    return cache_dir / f"{spec.name}-ort-int4"


def stamp_problem(spec: ModelSpec, model_dir: Path) -> str | None:
    """Why the converted model in ``model_dir`` cannot be used, or None: the stamp must name the source's
    pinned hash and these builder arguments, and every file must still have the size it had."""
    stamp = model_dir / "stamp.json"
    if not stamp.exists():
        return "not converted yet"
    meta = json.loads(stamp.read_text())
    if meta.get("format") != STAMP_FORMAT or meta.get("source_sha256") != spec.sha256:
        return "the stamp is for another source"
    if tuple(meta.get("builder_args", ())) != BUILDER_ARGS:
        return "the stamp has other builder arguments"
    for name, size in meta["files"].items():
        if not (model_dir / name).is_file() or (model_dir / name).stat().st_size != size:
            return f"{name} is missing or changed"
    return None


def ensure_converted(spec: ModelSpec, gguf: Path, cache_dir: Path) -> Path:
    """The converted model's directory: checked by its stamp, converted in a child process when the stamp is
    missing or does not match. A lock file keeps two processes from converting at once."""
    target = converted_dir(spec, cache_dir)
    if stamp_problem(spec, target) is None:
        return target
    with open(cache_dir / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        problem = stamp_problem(spec, target)
        if problem is not None:
            print(f"{spec.name}: converting for onnxruntime-genai once ({problem}); 1-3 minutes and up to "
                  f"{spec.conversion_gb:.0f} GB of memory", file=sys.stderr, flush=True)
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            done = subprocess.run([sys.executable, "-m", "models.llm.conversion", "--model", spec.name,
                                   "--gguf", str(gguf), "--out", str(target)], env=env)
            problem = stamp_problem(spec, target)
            if done.returncode != 0 or problem is not None:
                raise ModelUnavailable(conversion_failure(spec, done.returncode, problem))
    return target


def conversion_failure(spec: ModelSpec, returncode: int, problem: str | None) -> str:
    """One line on a failed conversion; a child killed by a signal (the kernel's out-of-memory killer sends
    SIGKILL) is told how much memory the conversion needs and what needs less."""
    if returncode < 0:
        return (f"{spec.name}: conversion for onnxruntime-genai was killed (signal {-returncode}; out of memory? "
                f"it needs about {spec.conversion_gb:.0f} GB): free memory and start again, or choose "
                f"MEMO_LLM=qwen-0.5b (about {SPECS['qwen-0.5b'].conversion_gb:.0f} GB) or {spec.name}-gpt4all "
                "(no conversion, slower)")
    return f"{spec.name}: conversion for onnxruntime-genai failed (exit {returncode}; {problem or 'stamp ok'})"


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def convert(spec: ModelSpec, gguf: Path, target: Path) -> dict:
    """GGUF -> HF (in this process) -> ONNX int4 (the builder, in a child), in a temporary directory beside
    ``target``, renamed into place with its stamp, which also records the times and peak memory."""
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
        to_hf_s, to_hf_peak = time.perf_counter() - started, _peak_rss_mb()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(work / "hf"),
                        "-o", str(work / "onnx"), "-c", str(work / "cache"), *BUILDER_ARGS], check=True)
        out = work / "onnx"
        meta = {
            "format": STAMP_FORMAT, "source": spec.name, "source_sha256": spec.sha256,
            "builder_args": list(BUILDER_ARGS),
            "versions": package_versions("onnxruntime-genai", "onnxruntime", "transformers", "gguf", "torch"),
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
    parser.add_argument("--model", choices=sorted(SPECS), default="qwen-0.5b")
    parser.add_argument("--gguf", type=Path, help="the verified GGUF (default: assembled in the model cache)")
    parser.add_argument("--out", type=Path, help="default: the model cache")
    parser.add_argument("--force", action="store_true", help="convert even when the stamp is good")
    args = parser.parse_args()
    spec = SPECS[args.model]
    gguf = args.gguf or assemble(spec, default_cache_dir())
    out = args.out or converted_dir(spec, default_cache_dir())
    problem = stamp_problem(spec, out)
    if problem or args.force:
        print(json.dumps(convert(spec, gguf, out), indent=1))
    else:
        print(f"{out} is converted and stamped")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    main()
