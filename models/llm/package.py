"""The GGUF from its PyPI parts: joined in order, verified against the pinned sha256, cached with a stamp."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path

from models.llm.spec import ModelSpec, ModelUnavailable


def _parts(spec: ModelSpec) -> list[Path]:
    parts: list[Path] = []
    for package in spec.packages:
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise ModelUnavailable(f"{spec.name}: package {package} is not installed (make install)")
        data = Path(list(found.submodule_search_locations)[0]) / "data"
        parts.extend(sorted(data.glob("*.bin")))
    return parts


def assemble(spec: ModelSpec, cache_dir: Path) -> Path:
    """The joined GGUF in ``cache_dir``: built once (parts joined into a temporary file while hashing,
    then renamed into place), verified against the pinned sha256. Later calls check a stamp (size and
    mtime of the verified file) instead of hashing a gigabyte again."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{spec.name}.gguf"
    stamp = cache_dir / f"{spec.name}.verified.json"
    if target.exists() and stamp.exists():
        st = target.stat()
        if json.loads(stamp.read_text()) == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
            return target
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in _parts(spec):
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelUnavailable(f"{spec.name}: joined parts hash to {digest.hexdigest()}, expected {spec.sha256}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    st = target.stat()
    stamp.write_text(json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return target
