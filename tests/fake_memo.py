"""``python -m tests.fake_memo ARGS``: the ``memo`` command with the tests' fake models registered under the
names the tests use, so real worker and server processes run fast and deterministic. The fake embedder waits
``MEMO_TEST_EMBED_DELAY_S`` per call (default 0), long enough for a test to kill a worker mid-task."""
from __future__ import annotations

import os
import time
from typing import Sequence

import numpy as np

from models import register_embedder, register_entity_extractor, register_generator, register_phrase_finder
from tests.fakes import HashEmbedder, LexiconEntities, RegexPhrases, ScriptedGenerator


class PacedHashEmbedder(HashEmbedder):
    """The tests' hash embedder (same name, same vectors), slowed down by the environment."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(float(os.environ.get("MEMO_TEST_EMBED_DELAY_S", "0")))
        return super().embed(texts)


register_embedder("fake", PacedHashEmbedder)
register_phrase_finder("fake", RegexPhrases)
register_generator("fake", ScriptedGenerator)
register_entity_extractor("fake", LexiconEntities)

if __name__ == "__main__":
    from service.cli import main

    main()
