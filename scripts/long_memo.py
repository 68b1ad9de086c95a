"""How long one huge single-line memo takes: POST /memos through the app with the real MiniLM.

A single line with no sentence ends is the chunker's worst case: every ~128 word pieces become their own
"sentence" and chunk, and each is embedded. Sizes over MEMO_MAX_MEMO_CHARS show how fast the refusal is.

    nice -n 10 .venv/bin/python scripts/long_memo.py --chars 50000 200000 500000 5000000
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is a top-level dev package, not installed

from bench.harness import seed_sentences  # noqa: E402
from service import create_app# noqa: E402


def single_line(chars: int) -> str:
    """Seed-memo words, sentence punctuation removed, repeated to ``chars`` characters on one line."""
    words = " ".join(seed_sentences()).replace(".", "").replace("\n", " ").split()
    out, n = [], 0
    while n < chars:
        for w in words:
            out.append(w)
            n += len(w) + 1
            if n >= chars:
                break
    return " ".join(out)[:chars].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, nargs="+", default=[50_000, 200_000, 500_000, 5_000_000])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATA_DIR": f"{tmp}/data", "SEEDS_DIR": None, "RATELIMIT": "off"})
        client = app.test_client()
        client.post("/ask", json={"question": "warm up the model"})
        for chars in args.chars:
            text = single_line(chars)
            before = client.get("/health").get_json()["chunks"]
            t = time.perf_counter()
            r = client.post("/memos", json={"text": text})
            seconds = time.perf_counter() - t
            body = r.get_json()
            health = client.get("/health").get_json()
            row = {"chars": len(text), "bytes": len(text.encode()), "status": r.status_code,
                   "seconds": round(seconds, 1), "chunks": health["chunks"] - before,
                   "detail": body.get("detail") if r.status_code >= 400 else None}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        app.extensions["memo"].close()
    print(json.dumps({"command": "scripts/long_memo.py " + " ".join(sys.argv[1:]), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
