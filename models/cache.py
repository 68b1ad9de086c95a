"""Where the models made once from their packages (joined GGUF files, converted and quantised models) are kept."""
from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``MEMO_MODEL_CACHE``, else ``$XDG_CACHE_HOME/memo-service/models`` (``~/.cache/...``)."""
    if os.environ.get("MEMO_MODEL_CACHE"):
        return Path(os.environ["MEMO_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memo-service" / "models"
