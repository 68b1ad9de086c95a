"""The model cache: where the models made once from their packages (joined GGUF files, converted and
quantised models) are kept, and the file hashes and package versions their stamps record."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``MEMO_MODEL_CACHE``, else ``$XDG_CACHE_HOME/memo-service/models`` (``~/.cache/...``)."""
    if os.environ.get("MEMO_MODEL_CACHE"):
        return Path(os.environ["MEMO_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memo-service" / "models"


def sha256_of(path: Path) -> str:
    """The sha256 of the file at ``path``, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(*packages: str) -> dict[str, str]:
    """Python's and the named packages' versions ("missing" for one not installed)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out
