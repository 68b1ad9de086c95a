"""Where a ``POST /memos`` acknowledgement goes: N bench memos posted one at a time to an app in this process
(real models, ``MEMO_LLM=none``, after 4 warm-up posts) under cProfile (the serving thread only: the embedder's
other lane runs on a thread of its own). Prints ms per memo and the top of the cumulative profile. Extra
KEY=VALUE arguments are config overrides (``service.config`` keys without ``MEMO_``).

    MEMO_LLM=none .venv/bin/python scripts/profile_post.py 40 [RATELIMIT=off]
"""
from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"

from bench import data  # noqa: E402


def main() -> None:
    from service import create_app

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    extra = dict(arg.split("=", 1) for arg in sys.argv[2:])
    texts = data.memo_texts(data.news_documents(EVAL), n + 4)
    with tempfile.TemporaryDirectory(prefix="memo-profile-post-") as tmp:
        app = create_app({"DATA_DIR": tmp, "LLM": "none", "SEEDS_DIR": "", "BRIEF_WORKER": False,
                          "SENTENCE_FILLER": False, **extra})
        client = app.test_client()
        try:
            for text in texts[:4]:
                assert client.post("/memos", json={"text": text}).status_code == 201
            profile = cProfile.Profile()
            started = time.perf_counter()
            profile.enable()
            for text in texts[4:]:
                assert client.post("/memos", json={"text": text}).status_code == 201
            profile.disable()
            wall = time.perf_counter() - started
            print(f"{n} posts in {wall:.2f} s ({wall / n * 1000:.1f} ms a memo)")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
        finally:
            app.extensions["memo"].close()


if __name__ == "__main__":
    main()
