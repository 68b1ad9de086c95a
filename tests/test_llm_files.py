"""The LLM's files without a model: joining the packaged parts against a pinned hash, the cache stamp, and
the stamp of the onnxruntime-genai conversion (the conversion itself runs in test_llm_real, on the real model)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from models.llm import conversion
from models.llm.conversion import BUILDER_ARGS, STAMP_FORMAT, converted_dir, ensure_converted, stamp_problem
from models.llm import loader
from models.llm.loader import load_qwen, prepare
from models.llm.package import assemble
from models.llm.spec import ModelSpec, ModelUnavailable

PARTS = {"fakepart_a": [b"GGUF" + b"a" * 100, b"b" * 50], "fakepart_b": [b"c" * 70]}
JOINED = b"".join(b for parts in PARTS.values() for b in parts)


@pytest.fixture
def packages(tmp_path, monkeypatch):
    for package, parts in PARTS.items():
        data = tmp_path / "site" / package / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        for i, blob in enumerate(parts):
            (data / f"part{i:02d}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return tmp_path / "site"


def spec(sha256: str = hashlib.sha256(JOINED).hexdigest()) -> ModelSpec:
    return ModelSpec("fake", tuple(PARTS), sha256, len(JOINED))


def test_parts_are_joined_in_order_and_checked_against_the_pinned_hash(packages, tmp_path):
    path = assemble(spec(), tmp_path / "cache")
    assert path.read_bytes() == JOINED
    assert json.loads((tmp_path / "cache" / "fake.verified.json").read_text())["sha256"] == spec().sha256


def test_a_joined_file_with_another_hash_is_refused_and_not_kept(packages, tmp_path):
    with pytest.raises(ModelUnavailable, match="expected"):
        assemble(spec("0" * 64), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_later_start_trusts_the_stamp_and_a_changed_file_is_joined_again(packages, tmp_path):
    cache = tmp_path / "cache"
    path = assemble(spec(), cache)
    (packages / "fakepart_b" / "data" / "part00.bin").write_bytes(b"tampered")  # not read again while stamped
    assert assemble(spec(), cache).read_bytes() == JOINED
    path.write_bytes(b"corrupt")  # size and mtime no longer match the stamp: joined and hashed again
    with pytest.raises(ModelUnavailable):
        assemble(spec(), cache)


def test_missing_packages_are_named():
    with pytest.raises(ModelUnavailable, match="not installed"):
        assemble(ModelSpec("x", ("no_such_package_here",), "0" * 64, 1), __import__("pathlib").Path("/tmp"))


def test_an_unknown_runtime_is_refused_before_anything_is_built(tmp_path):
    with pytest.raises(ValueError, match="onnxruntime-genai"):
        load_qwen("qwen-0.5b", runtime="llama.cpp", cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def write_converted(directory, source_sha256, args=BUILDER_ARGS):
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(b"m" * 10)
    (directory / "stamp.json").write_text(json.dumps({
        "format": STAMP_FORMAT, "source_sha256": source_sha256, "builder_args": list(args),
        "files": {"model.onnx": 10}}))


def test_the_conversion_stamp_names_its_source_arguments_and_files(tmp_path):
    s = spec()
    assert stamp_problem(s, tmp_path / "none") == "not converted yet"
    write_converted(tmp_path / "ok", s.sha256)
    assert stamp_problem(s, tmp_path / "ok") is None
    write_converted(tmp_path / "other", "f" * 64)
    assert "another source" in stamp_problem(s, tmp_path / "other")
    write_converted(tmp_path / "args", s.sha256, ("-p", "fp32"))
    assert "builder arguments" in stamp_problem(s, tmp_path / "args")
    (tmp_path / "ok" / "model.onnx").write_bytes(b"short")
    assert "model.onnx" in stamp_problem(s, tmp_path / "ok")


def test_conversion_runs_once_in_a_child_and_a_failure_is_an_error(tmp_path, monkeypatch):
    s, calls = spec(), []

    def child(argv, env):  # stands in for `python -m models.llm.conversion ...`
        calls.append(argv)
        assert argv[:3] == [sys.executable, "-m", "models.llm.conversion"] and env["HF_HUB_OFFLINE"] == "1"
        write_converted(tmp_path / "cache" / "fake-ort-int4", s.sha256)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(conversion.subprocess, "run", child)
    (tmp_path / "cache").mkdir()
    target = ensure_converted(s, tmp_path / "model.gguf", tmp_path / "cache")
    assert target == converted_dir(s, tmp_path / "cache") and len(calls) == 1
    assert ensure_converted(s, tmp_path / "model.gguf", tmp_path / "cache") == target and len(calls) == 1

    monkeypatch.setattr(conversion.subprocess, "run", lambda argv, env: subprocess.CompletedProcess(argv, 1))
    with pytest.raises(ModelUnavailable, match="conversion"):
        ensure_converted(spec("e" * 64), tmp_path / "model.gguf", tmp_path / "cache")


def test_a_conversion_killed_for_memory_says_what_it_needs_and_what_needs_less(tmp_path, monkeypatch):
    """The kernel's out-of-memory killer ends the child with SIGKILL: the error names the memory the
    conversion needs and the choices that need less, not a bare exit status."""
    real_run = subprocess.run

    def killed(argv, env):  # a real child, ended by SIGKILL as the OOM killer ends it
        return real_run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])

    monkeypatch.setattr(conversion.subprocess, "run", killed)
    (tmp_path / "cache").mkdir()
    big = replace(spec(), conversion_gb=16.6)
    with pytest.raises(ModelUnavailable) as failed:
        ensure_converted(big, tmp_path / "model.gguf", tmp_path / "cache")
    message = str(failed.value)
    assert "killed (signal 9" in message and "about 17 GB" in message, message
    assert "MEMO_LLM=qwen-0.5b" in message and "fake-gpt4all" in message, message


def test_the_repeat_penalty_is_llama_cpps_over_recent_tokens_only():
    np = pytest.importorskip("numpy")
    from models.llm.ort import penalise_repeats

    logits = np.array([[[2.0, -2.0, 3.0, 1.0]]], dtype=np.float32)
    out = penalise_repeats(logits.copy(), [0, 1, 1], 2.0)
    assert out.tolist() == [[[1.0, -4.0, 3.0, 1.0]]]  # positive divided, negative multiplied, once per token
    assert penalise_repeats(logits.copy(), [], 2.0).tolist() == logits.tolist()
    assert penalise_repeats(logits.copy(), [0, 2], 1.0).tolist() == logits.tolist()


def test_a_stamped_conversion_is_used_without_its_gguf_or_packages(tmp_path, monkeypatch):
    # The container image ships the converted model only: neither the GGUF nor its packages are there.
    s = ModelSpec("fake", ("no_such_package_here",), "d" * 64, 1)
    monkeypatch.setitem(loader.SPECS, "fake", s)
    monkeypatch.setitem(loader.CHOICES, "fake", ("fake", "onnxruntime-genai"))
    write_converted(converted_dir(s, tmp_path), s.sha256)
    assert prepare("fake", tmp_path) == converted_dir(s, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-ort-int4"]  # nothing joined, nothing locked
    # a conversion whose stamp fails still needs the GGUF, and says which package is missing
    (converted_dir(s, tmp_path) / "model.onnx").write_bytes(b"short")
    with pytest.raises(ModelUnavailable, match="not installed"):
        prepare("fake", tmp_path)
    # gpt4all reads the GGUF itself
    monkeypatch.setitem(loader.CHOICES, "fake-gpt4all", ("fake", "gpt4all"))
    write_converted(tmp_path / "again" / "fake-ort-int4", s.sha256)
    with pytest.raises(ModelUnavailable, match="not installed"):
        prepare("fake-gpt4all", tmp_path / "again")


def test_a_model_that_cannot_be_built_here_is_refused_at_once_naming_what_is_ready(tmp_path, monkeypatch):
    # The container image: no GGUF packages, no converter; only its default model converted in the cache.
    s = ModelSpec("fake", ("no_such_package_here",), "d" * 64, 1)
    ready_one = ModelSpec("ready", ("no_such_package_either",), "e" * 64, 1)
    monkeypatch.setattr(loader, "SPECS", {"fake": s, "ready": ready_one})
    monkeypatch.setattr(loader, "CHOICES", {"fake": ("fake", "onnxruntime-genai"), "ready": ("ready", "onnxruntime-genai"),
                                            "fake-gpt4all": ("fake", "gpt4all")})
    monkeypatch.setattr(loader, "CONVERTER", ("torch", "no_such_converter_here"))
    write_converted(converted_dir(ready_one, tmp_path), ready_one.sha256)
    assert loader.ready(tmp_path) == ["ready"]
    for choice in ("fake", "fake-gpt4all"):
        with pytest.raises(ModelUnavailable, match="no_such_package_here") as refused:
            prepare(choice, tmp_path)
        assert "Ready in this model cache: ready" in str(refused.value)
    with pytest.raises(ModelUnavailable, match=r"not installed: .*; the converter \(no_such_converter_here\)"):
        prepare("fake", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready-ort-int4"]  # nothing joined, locked or converted
