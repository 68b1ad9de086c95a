"""The real embedders under concurrent server threads: one fp32 model or tokenizer call at a time, and
correct vectors and token counts from both embedders whatever the mix of lengths."""
from __future__ import annotations

import random
import threading
import time

import pytest

from tests.conftest import _shared_minilm, _shared_minilm_int8, _shared_minilm_q8

pytestmark = pytest.mark.model


def test_model_and_tokenizer_are_never_entered_concurrently(monkeypatch):
    embedder = _shared_minilm()
    inside: dict[int, int] = {}  # thread -> depth (encode calls the tokenizer itself)
    peak, lock = [0], threading.Lock()

    def tracked(fn):
        def call(*args, **kwargs):
            me = threading.get_ident()
            with lock:
                inside[me] = inside.get(me, 0) + 1
                peak[0] = max(peak[0], len(inside))
            time.sleep(0.02)  # widen the window a second thread would have to slip into
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    inside[me] -= 1
                    if not inside[me]:
                        del inside[me]
        return call

    tokenizer_class = type(embedder._model.tokenizer)
    monkeypatch.setattr(embedder._model, "encode", tracked(embedder._model.encode))
    monkeypatch.setattr(tokenizer_class, "__call__", tracked(tokenizer_class.__call__))

    def work(n):
        for i in range(5):
            (embedder.embed if (n + i) % 2 else embedder.count_tokens)(["word " * (n * 7 + i + 1)])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1, f"{peak[0]} threads were inside the model or tokenizer at once"


@pytest.mark.parametrize("load", [_shared_minilm, _shared_minilm_int8, _shared_minilm_q8], ids=["fp32", "int8", "q8"])
def test_concurrent_batches_of_different_lengths_embed_correctly(load):
    embedder = load()
    alone = {n: embedder.embed(["word " * n]) for n in (1, 40, 120)}
    errors: list[BaseException] = []

    def work(seed):
        rng = random.Random(seed)
        try:
            for _ in range(15):
                lengths = [rng.choice((1, 40, 120)) for _ in range(rng.randint(1, 4))]
                if rng.random() < 0.5:
                    vectors = embedder.embed(["word " * n for n in lengths])
                    for n, v in zip(lengths, vectors):
                        assert abs(float(v @ alone[n][0]) - 1) < 1e-4
                else:
                    assert embedder.count_tokens(["word " * n for n in lengths]) == lengths
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
