"""Length-sorted batches: texts of similar length embed together, so little compute goes to padding."""
from __future__ import annotations

from typing import Sequence


def length_batches(lengths: Sequence[int], max_batch: int, max_tokens: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches, shortest first. A batch holds at most ``max_batch``
    items and, padded to its longest item, at most ``max_tokens`` tokens (one over-long item still gets
    a batch of its own)."""
    if max_batch < 1 or max_tokens < 1:
        raise ValueError("max_batch and max_tokens must be positive")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # sorted ascending, so the item being added is the batch's longest
        if current and (len(current) == max_batch or (len(current) + 1) * max(lengths[i], 1) > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
