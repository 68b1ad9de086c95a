"""What every backend does the same way whatever its database: timestamps, the embedder check at open, and
a job assembled from its rows."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence

from service.storage.base import VectorSpace
from service.types import EntityFacet, Job

log = logging.getLogger(__name__)

# the embedder mark while every memo is being embedded again with another model
REEMBEDDING = "re-embedding, unfinished, to "


def utc_now() -> str:
    """Now, as the stores keep it: ISO 8601 in UTC, to the second (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_space(get_meta: Callable[[str], str | None], set_meta: Callable[[str, str], None],
                has_memos: Callable[[], bool], space: VectorSpace) -> bool:
    """Whether the stored vectors come from another model than ``space`` (the engine must embed every memo
    again); records ``space`` as the store's model when they do not."""
    stored = get_meta("embedder")
    if stored == space.mark:
        return False
    if stored is not None and has_memos():
        log.warning("store was embedded with %s, this engine uses %s: re-embedding all memos", stored, space.mark)
        # Until the last memo is done the store holds two models' vectors: a start after an interrupted
        # run (with either model) must see that and re-embed everything again.
        set_meta("embedder", f"{REEMBEDDING}{space.mark}")
        return True
    set_meta("embedder", space.mark)
    return False


def job_of(row: Sequence, items: Sequence[Sequence]) -> Job:
    """A job from its row ``(id, status, total, created_at, updated_at)`` and its items' rows
    ``(idx, status, memo_id, error)`` in batch order."""
    errors = tuple({"index": i, "error": e} for i, s, _, e in items if s == "failed")
    return Job(row[0], row[1], row[2], sum(s == "indexed" for _, s, _, _ in items), len(errors), errors,
               tuple(m for _, _, m, _ in items), tuple(s for _, s, _, _ in items), row[3], row[4])


def named_facets(counts: Sequence[Sequence], spellings: Iterable[Sequence]) -> list[EntityFacet]:
    """Entity facets from ``counts`` rows ``(key, memos)`` (best first) and ``spellings`` rows ``(key, text,
    label, mentions)``: each key shown with its most frequent spelling and label (the first met on a tie)."""
    shown = {key for key, _ in counts}
    names: dict[str, tuple[int, str, str]] = {}
    for key, text, label, mentions in spellings:
        if key in shown and (key not in names or mentions > names[key][0]):
            names[key] = (mentions, text, label)
    return [EntityFacet(names[key][1], names[key][2], n) for key, n in counts]
