"""News furniture: the datelines, bylines, time stamps, captions and calls to action that a news page
carries around its story. A reader's brief (and a human summary) never holds them, so the lead brief
leaves such sentences out and trims a dateline or a glued-on caption off the front of a sentence."""
from __future__ import annotations

import re

# A dateline in front of a sentence: "(CNN)", "Rome (CNN) --", "LONDON (Reuters) -", "NEW YORK (AP) —".
# No "^": these patterns are used with match(text, start), which anchors at start (a "^" would not).
_AGENCY_DATELINE = re.compile(
    r"(?:[A-Z][\w.'-]*(?:,?\s+[A-Z][\w.'-]*){0,3}\s+)?"
    r"\((?:CNN|Reuters|AP|AFP|UPI|Bloomberg|EW\.com|CNN Money)\)\s*(?:[-\u2013\u2014]+\s*)?"
)
# A dateline without an agency: an upper-case place and a dash, "WASHINGTON —", "SAN DIEGO, Calif. --".
_PLACE_DATELINE = re.compile(
    r"[A-Z][A-Z.'-]{2,}(?:\s+[A-Z][A-Z.'-]+){0,3}(?:,\s+[A-Z][a-z]{1,5}\.?)?\s+[-\u2013\u2014]{1,2}\s+(?=[A-Z\"'\u201c])"
)
# Sentences that are page furniture rather than story: bylines, time stamps, calls to action, captions and
# credits, editor's notes. Matched at the start of the sentence (case as news sites write them).
_FURNITURE = re.compile(
    r"^(?:"
    r"By\s*\.?\s*$|By\s+[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,3}\s*[.,|]?\s*$"  # "By .", "By Jane Smith ."
    r"|(?:PUBLISHED|UPDATED|POSTED|Published|Updated|Posted|Last updated|Last modified)(?:\s*:|\s+(?:at|on)\s+\d|\s+\d)"  # stamps
    r"|\|\s*\.?\s*$"  # the "| ." between PUBLISHED and UPDATED
    r"|\d{1,2}:\d{2}\s*(?:[AP]M\s*)?(?:EST|EDT|GMT|BST|ET|PT|UTC)?,?\s+\d{1,2}\s+[A-Z][a-z]+\s+\d{4}"  # "14:11 EST, 25 October 2013"
    r"|Scroll down\b|Click here\b|READ MORE\b|Read more\b|Watch the video\b|WATCH\b|VIDEO\b|PHOTOS?\b"
    r"|Follow (?:us|@)|Sign up\b|Subscribe\b|Like us on Facebook|Share this\b|Advertisement\s*$"
    r"|(?:Image|Photo|Picture|Video) (?:caption|copyright|credit)\b|Media playback is unsupported"
    r"|Pictured\s*:|Editor's note\b|Editor\u2019s note\b|Story highlights\b"
    r")"
)
_OPENING_WORDS = 4  # a glued caption starts with the words its sentence starts with
_GLUE_WORDS = 6  # and repeats a run of at least this many of its words


def trim_dateline(text: str, start: int, end: int) -> tuple[int, int]:
    """Move ``start`` past a leading news dateline, when what is left is still a sentence."""
    for pattern in (_AGENCY_DATELINE, _PLACE_DATELINE):
        match = pattern.match(text, start, end)
        if match and end - match.end() > 20:
            return match.end(), end
    return start, end


def trim_caption(text: str, start: int, end: int) -> tuple[int, int]:
    """Move ``start`` past a photo caption glued without a full stop to the sentence it captions: the
    sentence's opening words begin again later, and the caption shares a run of words with what follows."""
    words = [(m.start(), m.group(0).lower()) for m in re.finditer(r"\S+", text[start:end])]
    opening = [w for _, w in words[:_OPENING_WORDS]]
    for i in range(_GLUE_WORDS, len(words) - _GLUE_WORDS):
        if [w for _, w in words[i : i + _OPENING_WORDS]] != opening or not text[start + words[i][0]].isupper():
            continue
        caption = {tuple(w for _, w in words[k : k + _GLUE_WORDS]) for k in range(i - _GLUE_WORDS + 1)}
        story = {tuple(w for _, w in words[k : k + _GLUE_WORDS]) for k in range(i, len(words) - _GLUE_WORDS + 1)}
        if caption & story:
            return start + words[i][0], end
    return start, end


def trim_sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """A sentence's span without its leading dateline or glued caption (a sub-span: it still slices the text)."""
    start, end = trim_dateline(text, start, end)
    return trim_caption(text, start, end)


def is_furniture(sentence: str) -> bool:
    """Whether a sentence is page furniture (byline, time stamp, call to action, caption, editor's note)."""
    return bool(_FURNITURE.match(sentence.strip()))
