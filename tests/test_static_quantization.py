"""minilm-s8's recipe without the real model: which MatMuls stay fp32, the stamp that names its calibration
ranges, and the registry seam (the real model: tests/test_onnx_embedder.py, ``-m model``)."""
from __future__ import annotations

import json

import pytest


def _tiny_graph():
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    up = numpy_helper.from_array(np.zeros((4, 8), np.float32), "up")
    down = numpy_helper.from_array(np.zeros((8, 4), np.float32), "down")
    nodes = [helper.make_node("MatMul", ["x", "up"], ["h"], name="ffn_up"),
             helper.make_node("MatMul", ["h", "down"], ["y"], name="ffn_down"),
             helper.make_node("MatMul", ["y", "yt"], ["scores"], name="attention")]  # two activations: fp32
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
                                              helper.make_tensor_value_info("yt", TensorProto.FLOAT, [4, 1])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1])],
                              initializer=[up, down])
    return helper.make_model(graph)


def test_only_the_matmuls_of_two_activations_stay_in_fp32():
    from models.embedders.static_quantization import kept_in_fp32

    assert kept_in_fp32(_tiny_graph()) == ["attention"]


def test_a_stamp_made_with_other_ranges_is_not_good(tmp_path):
    from models.cache import sha256_of
    from models.embedders.quantization import MODEL_FILE, read_stamp
    from models.embedders.static_quantization import recipe

    model = tmp_path / MODEL_FILE
    model.write_bytes(b"model")
    good = {"format": recipe().stamp_format, "source_sha256": "s", "settings": recipe().settings,
            "size": 5, "sha256": sha256_of(model)}
    (tmp_path / "stamp.json").write_text(json.dumps(good))
    assert read_stamp(tmp_path, "s", recipe()) == (good, None)
    other = {**good, "settings": {**recipe().settings, "ranges_sha256": "0" * 64}}
    (tmp_path / "stamp.json").write_text(json.dumps(other))
    assert read_stamp(tmp_path, "s", recipe()) == (None, "the stamp has other settings")
    assert read_stamp(tmp_path, "s")[1] == "the stamp is for another source"  # q8's recipe: another format


def test_ranges_for_another_graph_are_refused(tmp_path):
    import onnx

    from models.embedders import static_quantization

    folded = tmp_path / "folded.onnx"
    onnx.save(_tiny_graph(), str(folded))
    with pytest.raises(static_quantization.RangesMismatch, match="'x'"):
        static_quantization._quantize_static(folded, tmp_path / "out.onnx")


def test_minilm_s8_is_an_embedder_choice():
    from models import embedder_names

    assert {"minilm-q8", "minilm-s8"} <= set(embedder_names())
