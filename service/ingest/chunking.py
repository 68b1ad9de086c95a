"""Sentence-aware chunks with character offsets, bounded by the embedder's token limit."""
from __future__ import annotations

import re
from typing import Callable, Sequence
from service.types import Chunk

Span = tuple[int, int]
CountTokens = Callable[[Sequence[str]], list[int]]

_WORD = re.compile(r"\S+")

def _split_long(text: str, span: Span, tokens: int, max_tokens: int) -> list[Span]:
    """Cut one over-long sentence into word windows that fit ``max_tokens`` (estimated per word)."""
    words = [(m.start() + span[0], m.end() + span[0]) for m in _WORD.finditer(text, span[0], span[1])]
    if len(words) <= 1:
        # One enormous "word": cut by characters, about four per token.
        step = max(1, max_tokens * 4)
        return [(s, min(s + step, span[1])) for s in range(span[0], span[1], step)]
    per_word = tokens / len(words)
    window = max(1, int(max_tokens / per_word * 0.9))
    return [(words[i][0], words[min(i + window, len(words)) - 1][1]) for i in range(0, len(words), window)]


def bound_sentences(text: str, sentences: Sequence[Span], count_tokens: CountTokens, max_tokens: int) -> tuple[list[Span], list[int]]:
    """Split any sentence longer than ``max_tokens`` into pieces; return the spans and their token counts."""
    counts = count_tokens([text[s:e] for s, e in sentences])
    spans: list[Span] = []
    out_counts: list[int] = []
    for span, n in zip(sentences, counts):
        if n <= max_tokens:
            spans.append(span)
            out_counts.append(n)
            continue
        pieces = _split_long(text, span, n, max_tokens)
        spans.extend(pieces)
        out_counts.extend(count_tokens([text[s:e] for s, e in pieces]))
    return spans, out_counts


def chunk_sentences(sentences: Sequence[Span], counts: Sequence[int], max_tokens: int, overlap: int = 1) -> list[Chunk]:
    """Pack consecutive sentences into chunks of at most ``max_tokens``; consecutive chunks share
    ``overlap`` sentences where they fit. A sentence over the limit becomes a chunk on its own."""
    chunks: list[Chunk] = []
    first = 0
    n = len(sentences)
    while first < n:
        total = counts[first]
        last = first
        while last + 1 < n and total + counts[last + 1] <= max_tokens:
            last += 1
            total += counts[last]
        chunks.append(Chunk(sentences[first][0], sentences[last][1], first, last))
        if last + 1 >= n:
            break
        # subtle: step back for the overlap only when the overlap plus the next sentence fit, so a
        # chunk is never just a repeat of the previous chunk's tail; always move forward.
        nxt = last + 1 - overlap
        if nxt <= first or sum(counts[nxt : last + 2]) > max_tokens:
            nxt = last + 1
        first = nxt
    return chunks
