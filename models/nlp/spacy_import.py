"""Import spaCy without torch: thinc imports torch whenever it is installed, for model types we never load."""
from __future__ import annotations

import sys


def import_spacy() -> None:
    """Import spaCy with torch hidden from thinc, unless torch is already loaded (the fp32 embedder).

    ``en_core_web_sm`` runs on thinc's numpy ops; torch would only cost the process ~1 s of start-up and
    ~190 MB of memory (measured) when the embedder is the torch-free int8 one. Torch stays importable
    afterwards; only thinc's PyTorch wrappers, which these pipelines do not use, see it as missing."""
    if "thinc" in sys.modules or "torch" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes ``import torch`` raise ImportError
    try:
        import spacy  # noqa: F401
        import thinc.api  # noqa: F401
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
