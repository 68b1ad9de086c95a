"""Sentences by Punkt, with character offsets into the memo text."""
from __future__ import annotations

import re

_WORD = re.compile(r"\S")


class SentenceSplitter:
    """Punkt sentences, with every line break treated as a boundary (memos put headings on their own lines)."""

    def __init__(self, language: str = "english") -> None:
        import punkt

        self._tokenizer = punkt.tokenizer_for(language, line_breaks="always")

    def spans(self, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """``(start, end)`` offsets into ``text`` of each sentence in ``text[start:end]``, whitespace trimmed."""
        end = len(text) if end is None else end
        window = text[start:end]
        out: list[tuple[int, int]] = []
        for s, e in self._tokenizer.span_tokenize(window):
            piece = window[s:e]
            stripped = piece.strip()
            if not stripped or not _WORD.search(stripped):
                continue
            lead = len(piece) - len(piece.lstrip())
            out.append((start + s + lead, start + s + lead + len(stripped)))
        return out
