"""Short answers: the phrase inside the answering sentence that fits the question's type and sits where
the question's words do (entities, numbers, noun phrases), or None to keep the whole sentence."""
from __future__ import annotations

import re

from models.nlp.candidates import Phrase
from service.retrieval.lexical import STOP_WORDS, terms, words

# One word may stand between "what" and the noun that names the type ("which Polish city"), but not a verb:
# "what did Queen Elizabeth open" asks for a thing, not a queen.
_QUALIFIER = r"(?:(?!(?:did|does|do|was|is|were|are|has|have|had|can|could|would|will|should|might)\b)\w+\s+)?"
_WH_TYPES: list[tuple[re.Pattern[str], frozenset[str]]] = [
    (re.compile(r"\bhow\s+many\b", re.I), frozenset({"CARDINAL", "QUANTITY", "NUM"})),
    (re.compile(r"\bhow\s+much\b", re.I), frozenset({"MONEY", "QUANTITY", "PERCENT", "CARDINAL", "NUM"})),
    (re.compile(r"\b(?:what|which)\s+(?:percentage|percent|proportion|share)\b", re.I), frozenset({"PERCENT", "NUM"})),
    (re.compile(r"\bhow\s+(?:long|old)\b", re.I), frozenset({"DATE", "TIME", "QUANTITY", "CARDINAL", "NUM"})),
    (re.compile(r"\bhow\s+(?:far|large|big|tall|high|wide|deep|heavy|fast)\b", re.I), frozenset({"QUANTITY", "CARDINAL", "NUM"})),
    (re.compile(r"\b(?:when|(?:what|which|in\s+what)\s+(?:year|years|date|month|day|century|decade|era|period|time))\b", re.I),
     frozenset({"DATE", "TIME"})),
    (re.compile(r"\b(?:who|whom|whose)\b|\bwhat\s+(?:was|is|were|are)\s+(?:his|her|their|the)\s+(?:full\s+)?names?\b",
                re.I), frozenset({"PERSON", "ORG", "NORP"})),
    (re.compile(r"\bwhere\b", re.I), frozenset({"GPE", "LOC", "FAC", "ORG"})),
    (re.compile(rf"\b(?:what|which)\s+{_QUALIFIER}(?:city|country|state|nation|place|town|region|continent|province|"
                r"island|river|location|area)\b", re.I), frozenset({"GPE", "LOC", "FAC"})),
    (re.compile(rf"\b(?:what|which)\s+{_QUALIFIER}(?:team|company|organi[sz]ation|university|college|school|"
                r"band|party|group|agency|firm|club|newspaper|network|league|corporation)\b", re.I),
     frozenset({"ORG"})),
    (re.compile(rf"\b(?:what|which)\s+{_QUALIFIER}(?:person|player|president|king|queen|leader|author|scientist|"
                r"coach|singer|artist|man|woman|emperor|minister|founder)\b", re.I), frozenset({"PERSON"})),
    (re.compile(r"\b(?:what|which)\s+(?:number|amount)\b", re.I), frozenset({"CARDINAL", "QUANTITY", "MONEY", "NUM"})),
]
# "what type of surveys": the answer is what qualifies "surveys" in the sentence ("geophysical surveys").
_KIND_OF = re.compile(r"\b(?:what|which)\s+(?:type|types|kind|kinds|sort|sorts|form|forms|class)\s+of\s+([^\W_]+)", re.I)
_FUNCTION_WORDS = STOP_WORDS | {"whose", "which", "that", "this", "these", "those", "it", "they", "what", "who"}
# Numbers, amounts and percentages; a clock time or game clock ("3:08", "10:30 a.m.") and a range
# ("100–150", "27-30%") stay whole.
_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_NUM = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?[ap]\.?m\b\.?)?"
                  rf"|(?:[$\u00a3\u20ac]\s?)?\b{_NUMBER}(?:\s?[–-]\s?{_NUMBER}\b)?"
                  r"(?:\s?(?:%|percent|per\s?cent|million|billion))?")
# candidates that are numbers; one inside a longer number phrase is a piece of it, not an answer
_NUMERIC = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "NUM"})


def expected_types(question: str) -> frozenset[str] | None:
    """Entity labels a question asks for (None: it asks for something else, e.g. a "what" question)."""
    for pattern, labels in _WH_TYPES:
        if pattern.search(question):
            return labels
    return None


_WHEN = re.compile(r"\bwhen\b|\b(?:what|which|in\s+what)\s+(?:year|date|month|day|century|decade)\b", re.I)
_ASKS_YEAR = re.compile(r"\b(?:what|which)\s+year\b", re.I)
_YEAR_DIGITS = r"(?:1\d{3}|20\d{2})"
_YEAR = re.compile(rf"\b{_YEAR_DIGITS}\b")
_POINT_IN_TIME = re.compile(
    rf"\b{_YEAR_DIGITS}s?\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)\b|\b(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Monday|Tuesday|"
    r"Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|tomorrow|century|spring|summer|autumn|fall|winter)\b",
    re.I,
)


def _matches(stems: list[str], question_terms: set[str]) -> bool:
    """A word of the sentence meets the question: same stem, or one stem prefixes the other (russia/russian)."""
    return any(
        s in question_terms or (len(s) >= 4 and any(q.startswith(s) or (len(q) >= 4 and s.startswith(q)) for q in question_terms))
        for s in stems
    )


def number_phrases(sentence: str) -> list[Phrase]:
    return [Phrase(m.start(), m.end(), "NUM") for m in _NUM.finditer(sentence)]


def fits_type(question: str, sentence: str, start: int, end: int, candidates: list[Phrase]) -> bool:
    """Whether ``sentence[start:end]``, an answer to ``question``, can be of the type the question asks for
    (``expected_types``). A how-many question needs a number in it. Otherwise an answer that overlaps
    entities (``candidates``: the sentence's) needs one of the asked-for type that is not made only of the
    question's own words: a place does not answer who ("Denver" for "who did the Broncos beat"), nor "Denver
    Broncos" "who did the Denver Broncos beat". An answer that overlaps no entity passes (a small NER model
    misses names), as does a time expression for a when question. True when the question asks for no type."""
    wanted = expected_types(question)
    if wanted is None:
        return True
    asked = set(terms(question))
    answer = sentence[start:end]

    def new_words(text: str) -> bool:
        found = terms(text)
        return not found or not all(_matches([t], asked) for t in found)

    overlapping = [c for c in candidates if c.start < end and start < c.end]
    if wanted & _NUMERIC and not wanted & {"DATE", "TIME"}:  # how many / how much / what number
        numbers = [n.group(0) for n in _NUM.finditer(answer)]
        spelled = [sentence[c.start : c.end] for c in overlapping if c.label in _NUMERIC]
        return any(new_words(n) for n in numbers + spelled)
    if wanted & {"DATE", "TIME"} and _POINT_IN_TIME.search(answer):
        return True
    if not overlapping:
        return True
    return any(c.label in wanted and new_words(sentence[max(c.start, start) : min(c.end, end)]) for c in overlapping)


def qualifier(question: str, sentence: str, candidates: list[Phrase]) -> Phrase | None:
    """For "what type of N": the words in front of N in a noun phrase of the sentence that ends in N."""
    match = _KIND_OF.search(question)
    if not match:
        return None
    head = terms(match.group(1))
    if not head:
        return None
    for cand in candidates:
        if cand.label != "NP":
            continue
        text = sentence[cand.start : cand.end]
        tokens = list(re.finditer(r"[^\W_]+(?:-[^\W_]+)*", text))
        if len(tokens) < 2 or terms(tokens[-1].group(0)) != head:
            continue
        first = next((t for t in tokens[:-1] if t.group(0).lower() not in _FUNCTION_WORDS), None)
        if first is not None:
            return Phrase(cand.start + first.start(), cand.start + tokens[-2].end(), "NP")
    return None


def choose_phrase(question: str, sentence: str, candidates: list[Phrase]) -> Phrase | None:
    """The candidate that best answers ``question``: of the asked-for type, not made of the question's own
    words, and near where the question's words occur in the sentence. None when nothing fits."""
    kind = qualifier(question, sentence, candidates)
    if kind is not None:
        return kind
    wanted = expected_types(question)
    question_terms = set(terms(question))
    if not question_terms:
        return None
    anchors = [m.start() for m in re.finditer(r"[^\W_]+", sentence) if _matches(terms(m.group(0)), question_terms)]
    when = _WHEN.search(question) is not None
    best: tuple[float, Phrase] | None = None
    for cand in candidates:
        text = sentence[cand.start : cand.end]
        cand_terms = terms(text)
        if not cand_terms or all(w in _FUNCTION_WORDS for w in words(text)):
            continue
        repeated = sum(_matches([t], question_terms) for t in cand_terms) / len(cand_terms)
        if repeated >= 1.0:
            continue  # the question's own words are not its answer
        if wanted is not None:
            type_fit = 1.0 if cand.label in wanted else 0.0
            if not type_fit:
                continue
        else:
            type_fit = 0.6 if cand.label == "NP" else 0.4
        distance = min((abs(cand.start - a) for a in anchors), default=len(sentence)) / max(len(sentence), 1)
        score = type_fit - 0.8 * repeated - 0.6 * distance - 0.01 * len(cand_terms)
        if when and not _POINT_IN_TIME.search(text):
            score -= 0.5  # "when" asks for a point in time, not a span like "12-year-long"
        if best is None or score > best[0]:
            best = (score, cand)
    return best[1] if best else None


def wants_phrase(question: str) -> bool:
    """Whether ``short_answer`` can pick a phrase for this question at all (so candidates are worth finding)."""
    return expected_types(question) is not None or _KIND_OF.search(question) is not None


def wants_noun_phrases(question: str) -> bool:
    """Whether the answer may be a noun phrase ("what type of ..."); otherwise only entities of the
    expected types (and numbers, found by pattern) can be chosen, and no parse is needed."""
    return _KIND_OF.search(question) is not None


def short_answer(question: str, sentence: str, candidates: list[Phrase]) -> Phrase | None:
    """The phrase to answer with, only for questions whose answer type is clear (who, when, where, how
    many, what type of ...); None keeps the whole sentence as the answer. On the XQuAD dev set
    (``scripts/tune_answer.py``) phrases for the other "what" questions were right too rarely to show."""
    numbers = number_phrases(sentence)
    # A piece of a longer number ("08" of "3:08", "150" of "100–150") is not an answer of its own; a date
    # inside a range ("1939" of "1939–1945") still answers "when".
    candidates = [c for c in candidates if c.label not in _NUMERIC or not any(
        n.start <= c.start and c.end <= n.end and n.end - n.start > c.end - c.start for n in numbers)]
    candidates += numbers
    if expected_types(question) is None and qualifier(question, sentence, candidates) is None:
        return None
    chosen = choose_phrase(question, sentence, candidates)
    if chosen is not None and _ASKS_YEAR.search(question):
        # "in what year": the year of "25 February 2010", not the whole date
        year = _YEAR.search(sentence, chosen.start, chosen.end)
        if year is not None:
            return Phrase(year.start(), year.end(), chosen.label)
    return chosen


# A clause long enough to hold more than its answer ("The Broncos defeated the Pittsburgh Steelers in the
# divisional round" for "who did the Broncos beat?"); shorter answers are phrases already.
CLAUSE_WORDS = 4
_WORD_BEFORE = re.compile(r"([^\W_]+)\s+$")
_WORD_AFTER = re.compile(r"(?:['\u2019]s)?\s+([^\W_]+)")
_COORDINATION = re.compile(r"\s*(?:,|;|&|,?\s*(?:and|or))\s*", re.I)


def _in_longer_name(text: str, phrase: Phrase) -> bool:
    """Whether a capitalised word (not a function word) runs straight into ``phrase``: "Polish" of "Polish
    United Workers' Party", "William Tyndale" of "William Tyndale's English Bible"."""
    before = _WORD_BEFORE.search(text, 0, phrase.start)
    after = _WORD_AFTER.match(text, phrase.end)
    return any(m is not None and m.group(1)[:1].isupper() and m.group(1).lower() not in _FUNCTION_WORDS
               for m in (before, after))


def narrows_clause(question: str) -> bool:
    """Whether a clause answering ``question`` can narrow to a phrase: a who / when / where question (an
    amount keeps its unit and scale: "515 million years", "ten times their own weight")."""
    wanted = expected_types(question)
    return bool(wanted) and not wanted & _NUMERIC


def narrow_clause(question: str, text: str, candidates: list[Phrase]) -> Phrase | None:
    """The name or date inside ``text``, a clause a model answered with, that a who / when / where question
    asks for (``short_answer``'s choice among ``candidates``), or None to keep the clause: for other
    questions (``narrows_clause``), for fewer than ``CLAUSE_WORDS`` words, when the phrase is part of a
    longer name ("Polish United Workers' Party" keeps its "Polish"), and when it is one item of a list
    ("Robert Lane and Benjamin Vail")."""
    if len(_WORD.findall(text)) < CLAUSE_WORDS or not narrows_clause(question):
        return None
    chosen = short_answer(question, text, candidates)
    if chosen is None:
        return None
    if _in_longer_name(text, chosen):
        return None
    for other in candidates:
        if other.label == chosen.label and (other.start, other.end) != (chosen.start, chosen.end):
            (_, gap_start), (gap_end, _) = sorted([(chosen.start, chosen.end), (other.start, other.end)])
            if gap_start <= gap_end and _COORDINATION.fullmatch(text[gap_start:gap_end]):
                return None
    return chosen


# Trimming an answer's edges. Words an answer may be cut at (a cut elsewhere splits a name or a compound):
_JOINS = frozenset("a an the of in on at by to for from with into during through via because as is was are "
                   "were be been being has had have that which who whom it its".split())
_ARTICLES = frozenset({"a", "an", "the"})
_PREPOSITIONS = frozenset("in on at during by since from".split())
_ASKS_TIME_OR_PLACE = re.compile(r"\b(?:when|where)\b|\b(?:what|which|in\s+what)\s+(?:year|date|month|day|century|decade)\b", re.I)
_HOW_MANY = re.compile(r"\bhow\s+many\s+([^\W_]+)", re.I)
_ABBREVIATION = re.compile(r"\s*\(\s*[A-Z][A-Za-z.&]{1,9}\s*\)$")  # "American Sign Language (ASL)"
_WORD = re.compile(r"[^\W_]+(?:['\u2019.,-][^\W_]+)*")


def trim_answer(question: str, text: str) -> tuple[int, int]:
    """``[start, end)`` of the part of ``text`` (an answer span) that answers ``question``; ``(0, len(text))``
    keeps it all. Off come: a leading or trailing run of the question's own words, cut at a function word
    ("the average age of teachers in Wales is falling" answers "what is happening to the average age of
    teachers in Wales?" with "falling"), but never inside a name or title; a leading preposition of a time
    or place ("In 1900" for "when"); the noun of "how many seconds" after the number ("17 seconds"); a
    bracketed abbreviation after a name. No cut falls inside a name ("the Treaty of Rome") or brackets. What is left holds a word that is neither a stop word nor the
    question's; a coordination ("A and B") is never split."""
    tokens = list(_WORD.finditer(text))
    if len(tokens) < 2:
        return 0, len(text)
    low = [t.group(0).lower() for t in tokens]
    question_terms = set(terms(question))

    def asked(k: int) -> bool:
        word = tokens[k].group(0)
        if low[k] in STOP_WORDS:
            return False
        if any(c.isdigit() for c in word):  # a number is the question's only when it is the same number
            return all(t in question_terms for t in terms(word))
        return _matches(terms(word), question_terms)

    def splits_name(cut: int) -> bool:
        """Whether a cut before ``tokens[cut]`` falls inside a name ("the Treaty of | Rome") or brackets."""
        before = next((k for k in range(cut - 1, -1, -1) if low[k] not in _JOINS), None)
        after = next((k for k in range(cut, len(tokens)) if low[k] not in _JOINS), None)
        if before is not None and after is not None and all(tokens[k].group(0)[:1].isupper() for k in (before, after)):
            return True
        head = text[: tokens[cut].start()]
        return head.count("(") != head.count(")")

    first, last = 0, len(tokens)  # the kept tokens: tokens[first:last]
    content = [k for k in range(len(tokens)) if low[k] not in _JOINS]
    titled = all(tokens[k].group(0)[:1].isupper() or tokens[k].group(0)[:1].isdigit() for k in content)
    if not titled:
        cut = 0
        while cut < last - 1 and (low[cut] in _JOINS or asked(cut)):
            cut += 1
        if cut and low[cut - 1] in _JOINS and any(asked(k) for k in range(cut)) and not splits_name(cut):
            first = cut - (low[cut - 1] in _ARTICLES)  # "the" stays with its noun
        cut = last
        while cut - 1 > first and (low[cut - 1] in _JOINS or asked(cut - 1)):
            cut -= 1
        if (cut < last and low[cut] in _JOINS and low[cut - 1] not in STOP_WORDS
                and any(asked(k) for k in range(cut, last)) and not splits_name(cut)):
            last = cut
    if _ASKS_TIME_OR_PLACE.search(question) and last - first >= 2 and low[first] in _PREPOSITIONS:
        first += 1 + (last - first >= 3 and low[first + 1] == "the")
    unit = _HOW_MANY.search(question)
    if unit and last - first >= 2 and terms(tokens[last - 1].group(0)) == terms(unit.group(1)):
        last -= 1
    start = tokens[first].start() if first else 0
    end = tokens[last - 1].end() if last < len(tokens) else len(text)
    abbreviation = _ABBREVIATION.search(text, start, end)
    if abbreviation and abbreviation.end() == end and len(_WORD.findall(text, start, abbreviation.start())) >= 2:
        end = abbreviation.start()
    kept = [k for k in range(first, last) if low[k] not in STOP_WORDS]
    if not kept or all(asked(k) for k in kept):
        return 0, len(text)
    return start, end
