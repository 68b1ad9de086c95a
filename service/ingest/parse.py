"""Memo text in: normalisation, the leading ``16 Mar 2023; MEMO:`` header, titles, content hashes."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from pathlib import Path
from typing import Callable

from service.errors import InvalidInput
from service.types import MemoDraft

TITLE_MAX_CHARS = 140
MEMO_SUFFIXES = (".txt", ".md", ".markdown", ".text")

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE_PATTERNS = (
    # 16 Mar 2023 / 16 March 2023
    (re.compile(rf"(?P<d>\d{{1,2}})\s+(?P<m>{_MONTH})\s+(?P<y>\d{{4}})", re.I), "dmy"),
    # March 16, 2023 / Mar 16 2023
    (re.compile(rf"(?P<m>{_MONTH})\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})", re.I), "mdy"),
    # 2023-03-16
    (re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"), "iso"),
)
# "<date> ; MEMO:"  the type is an upper-case word or two ("MEMO", "PRESS RELEASE").
_TYPE = re.compile(r"\s*[;,|\u2013\u2014-]?\s*(?P<type>[A-Z][A-Z&/ -]{1,29}[A-Z])\s*:\s*")
_DATE_ONLY_TAIL = re.compile(r"\s*[;:|\u2013\u2014-]\s*")
# A Markdown ATX heading line: "## Title", optionally closed "## Title ##".
_MARKDOWN_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]+(?P<title>[^\n]*?)(?:[ \t]+#+)?[ \t]*(?:\n|$)")


@dataclass(frozen=True)
class Header:
    """What the leading header said, and where the memo body starts."""

    date: str | None
    type: str | None
    end: int

def normalise_text(text: str) -> str:
    """Unify line endings, drop NULs and byte-order marks, trim the ends. Offsets refer to this text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").replace("\ufeff", "")
    return text.strip()


def content_hash(text: str) -> str:
    """sha256 of the normalised text: the identity used for de-duplication and caches."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _to_iso(match: re.Match[str], kind: str) -> str | None:
    if kind == "iso":
        raw = match.group(0)
        fmt = "%Y-%m-%d"
    else:
        month = match.group("m").rstrip(".")[:3].title()
        raw = f"{int(match.group('d'))} {month} {match.group('y')}"
        fmt = "%d %b %Y"
    try:
        return datetime.strptime(raw, fmt).date().isoformat()
    except ValueError:
        return None


def parse_header(text: str) -> Header:
    """Read a leading ``<date>; <TYPE>:`` header. Returns ``Header(None, None, 0)`` when there is none."""
    for pattern, kind in _DATE_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        iso = _to_iso(match, kind)
        if iso is None:
            return Header(None, None, 0)
        end = match.end()
        typed = _TYPE.match(text, end)
        if typed:
            return Header(iso, typed.group("type").strip().lower(), typed.end())
        tail = _DATE_ONLY_TAIL.match(text, end)
        if tail:
            return Header(iso, None, tail.end())
        return Header(iso, None, end) if end == len(text) or text[end] == "\n" else Header(None, None, 0)
    return Header(None, None, 0)


def make_title(first_sentence: str) -> str:
    """A title from the memo's first sentence, cut at a word boundary. A Markdown heading gives the title
    without its ``#`` marks (and without the paragraph after it, should the splitter have joined them)."""
    heading = _MARKDOWN_HEADING.match(first_sentence)
    if heading and heading.group("title").strip():
        first_sentence = heading.group("title")
    title = " ".join(first_sentence.split())
    if len(title) <= TITLE_MAX_CHARS:
        return title
    cut = title[: TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "\u2026"


def validate_date(value: str | Date | None) -> str | None:
    """An ISO ``YYYY-MM-DD`` string, or InvalidInput."""
    if value is None or value == "":
        return None
    if isinstance(value, Date):
        return value.isoformat()
    try:
        return Date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidInput({"date": [f"not an ISO date (YYYY-MM-DD): {value!r}"]}) from None


def clean_tags(tags: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Trimmed, lower-cased, de-duplicated tags, in their given order."""
    seen: dict[str, None] = {}
    for tag in tags or ():
        tag = " ".join(str(tag).split()).lower()
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def prepare_memo(
    text: str,
    *,
    split: Callable[[str, int], list[tuple[int, int]]],
    max_chars: int,
    title: str | None = None,
    date: str | Date | None = None,
    source: str | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
) -> MemoDraft:
    """Validate and normalise a memo and find its sentences. Explicit metadata wins over the header.

    ``split(text, start)`` returns the sentence spans of ``text[start:]`` as absolute offsets.
    """
    text = normalise_text(text)
    if not text:
        raise InvalidInput({"text": ["memo text is empty"]})
    if len(text) > max_chars:
        raise InvalidInput({"text": [f"memo has {len(text)} characters; the limit is {max_chars}"]})
    if not any(ch.isalnum() for ch in text):
        raise InvalidInput({"text": ["memo text has no letters or digits"]})
    header = parse_header(text)
    sentences = tuple(split(text, header.end)) or tuple(split(text, 0))
    body_start = sentences[0][0] if sentences else 0
    first = text[sentences[0][0] : sentences[0][1]] if sentences else text
    title = " ".join((title or "").split()) or make_title(first)
    return MemoDraft(
        text=text,
        title=title,
        content_hash=content_hash(text),
        body_start=body_start,
        sentences=sentences,
        date=validate_date(date) or header.date,
        type=header.type,
        source=(source or "").strip() or None,
        tags=clean_tags(tags),
    )


# Formats that can be pure ASCII at their start (a small PDF is) and so would decode as "text".
BINARY_SIGNATURES = {
    b"%PDF-": "a PDF", b"PK\x03\x04": "a ZIP or Office file", b"\x89PNG": "a PNG image", b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image", b"{\\rtf": "an RTF document", b"\xd0\xcf\x11\xe0": "an old Office file",
    b"\x1f\x8b": "gzip data", b"\x7fELF": "a program",
}
# C0 controls other than tab, newline, vertical tab, form feed and carriage return.
_CONTROLS = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r")


def read_memo_bytes(data: bytes, name: str = "upload") -> str:
    """Decode an uploaded or on-disk memo as UTF-8; binary data (and known binary formats) is refused."""
    head = data[:8192]
    for signature, kind in BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise InvalidInput({"file": [f"{name} looks like {kind}; memos are UTF-8 text (.txt, .md)"]})
    controls = len(head) - len(head.translate(None, _CONTROLS))
    if b"\x00" in head or controls > max(3, len(head) // 100):
        raise InvalidInput({"file": [f"{name} looks binary (NUL or control bytes); memos are UTF-8 text"]})
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput({"file": [f"{name} is not valid UTF-8 (byte {exc.start})"]}) from None


def find_memo_files(paths: list[Path]) -> list[Path]:
    """Expand files and folders into memo files (``.txt``/``.md``), sorted, folders recursively."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEMO_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidInput({"path": [f"no such file or folder: {path}"]})
    return found
