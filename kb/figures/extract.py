"""Money amounts, percentages and counts found in a passage's text, with normalised values.

"£4.6m", "£4.6 million" and "£4,600,000" are one value (4600000, unit GBP); "1.8%", "1.8 per
cent" and "1.8 percent" are one (1.8, unit %). A count is a number written in digits followed by
what it counts ("2,200 bills": 2200, unit "bills").

Numbers that are not a figure of this kind are left out rather than guessed at (tests in
tests/test_figures_extract.py): ranges ("£3–4m", "10–15%", "between £3m and £4m": neither end
is the figure), years ("2012", "2008/11", "2023-24"), dates ("20 March 2008"), footnote markers
("savings.12", "[3]"), page, section, article and other reference numbers ("p. 12", "Article
12", "C-574/12"), telephone numbers, times, ordinals ("20th"), numbers inside words or web
addresses, ratios ("1 in 5") and numbers written as words ("one in five", "eight councils").
A figure said to be a bound ("over 95%", "more than £25m", "up to 3,357 staff") keeps its
qualifier, so it never equals the plain value; "about" and its synonyms are kept as a note but
compare equal, since "about £190m" states the value £190m.

quantulum3 was tried first and dropped: it read "£4.6m" as 4.6 pound-metres, "£1.34bn" as
pound-bit-newtons, averaged "£3–4m" to 3.5 and took years and telephone numbers for counts
(docs/figures.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Bump when the rules change: stored figures from an older version are extracted again.
EXTRACTOR_VERSION = "1"

MONEY = "money"
PERCENT = "percent"
COUNT = "count"

CURRENCIES = {"£": "GBP", "$": "USD", "€": "EUR"}
_SCALES = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "millions": 1e6,
    "bn": 1e9,
    "billion": 1e9,
    "billions": 1e9,
}

# Bounds: the value is a limit, not the amount. "about" and friends are approximations.
_BOUNDS = {
    "over": "more than",
    "more than": "more than",
    "above": "more than",
    "in excess of": "more than",
    "exceeding": "more than",
    "at least": "at least",
    "less than": "less than",
    "under": "less than",
    "below": "less than",
    "fewer than": "less than",
    "up to": "up to",
    "as much as": "up to",
    "as many as": "up to",
    "at most": "up to",
    "no more than": "up to",
}
_APPROX = ("about", "around", "approximately", "roughly", "some", "nearly", "almost", "circa")

_NUMBER = r"[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?|[0-9]*\.[0-9]+"

# One figure: an optional currency, the number, then a scale word or "%"/"per cent".
_FIGURE = re.compile(
    r"(?:(?P<cur>(?:US)?[£$€])\s?)?"
    r"(?P<num>" + _NUMBER + r")"
    r"(?:\s?(?P<scale>k|m|mn|bn)\b|\s?(?P<scaleword>thousand|millions?|billions?)\b)?"
    r"(?:\s?(?P<pct>%|per[\s-]?cent\b|percent\b))?"
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
# Text whose digits are never figures: each pattern's match is masked before reading figures.
_NOT_FIGURES = [
    re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+", re.I),  # addresses
    re.compile(r"\[\^?[^\]\s]*\]"),  # footnote references [3], [^bbc-2011]
    # telephone numbers: 0131 555 1234, +44 (0)141 287 0000, 0800-123-456
    re.compile(r"(?<![\w.,])(?:\+\d{1,3}\s?(?:\(0\)\s?)?|0)\d{2,4}(?:[\s-]\d{3,4}){1,3}\b"),
    # dates: 20 March 2008, 9th December, March 20
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b", re.I),
    re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?!\s*(?:%|per))", re.I),
    re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"),  # 20/03/2008
    re.compile(r"\b\d{1,2}[:.]\d{2}\s?(?:am|pm)\b|\b\d{1,2}:\d{2}\b|\b\d{1,2}\s?(?:am|pm)\b", re.I),
    # references to a place in a text: p. 12, pp. 4-5, page 3, para 2, Article 12, s. 4, C-574/12
    re.compile(
        r"\b(?:pp?|pages?|paras?|paragraphs?|sections?|s|ss|chapters?|ch|art|articles?|figs?"
        r"|figures?|tables?|annex(?:es)?|appendix|appendices|footnotes?|notes?|issues?|no|nos"
        r"|vol|volumes?|rule|regulations?|clauses?|schedule|briefing|case|item|line|step)"
        r"\.?\s*[0-9][0-9.,\-–/]*[a-z]?\b",
        re.I,
    ),
    re.compile(r"\b[A-Za-z]+-[0-9]+(?:/[0-9]+)*\b|\b[0-9]+/[0-9]+(?:/\w+)+"),  # C-574/12
    # years and financial years: 2012, 2008/11, 2023-24, 1990s, FY2024
    re.compile(
        r"(?<![0-9,.£$€])(?:1[89]|20)[0-9]{2}(?:s\b|\s?[/\-–]\s?(?:[0-9]{4}|[0-9]{2})\b)?"
        r"(?![0-9,]|\.[0-9]|\s?(?:%|per\s?cent|percent|k\b|m\b|bn\b|million|billion))"
    ),
    re.compile(r"\b[0-9]+\s+in\s+(?:every\s+)?[0-9]+\b", re.I),  # ratios: 1 in 5
]
# Words that are not what a count counts (it then has no unit and is left out).
_NOT_UNITS = frozenset(
    """a about above across after again against all also am an and any are as at be been before
    being below between both but by can could did do does doing down during each either few for
    from had has have having he her here hers him his how i if in into is it its itself just may
    me might more most must my no nor not now of off on once only or other our out over own per
    same she should so some such than that the their them then there these they this those
    through to too under until up upon very was we were what when where which while who whom why
    will with would you your cent percent per-cent times time year's said says say made make
    each percentage points point""".split()
)
_MONTH_WORDS = frozenset(_MONTHS.split("|"))
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


@dataclass(frozen=True)
class Figure:
    """A figure as found in a text.

    Attributes:
        kind: "money", "percent" or "count".
        value: the normalised value: pounds (or dollars, euros) for money, the number before
            the % for a percentage, the number counted for a count.
        unit: "GBP", "USD" or "EUR"; "%"; or for a count the words after the number, lower
            case ("bills", "shared services arrangements").
        qualifier: "" for the value itself, or the bound it is: "more than", "at least",
            "less than" or "up to". Figures compare equal only with the same qualifier.
        approximate: the text says "about", "around", "nearly"...
        start, end: where it is in the text (the qualifier not included).
        text: the words as written, e.g. "£4.6m".
    """

    kind: str
    value: float
    unit: str
    qualifier: str
    approximate: bool
    start: int
    end: int
    text: str

    def same_value(self, other: Figure) -> bool:
        """The same kind, unit kind and qualifier, and a value equal to four significant digits."""
        if self.kind != other.kind or self.qualifier != other.qualifier:
            return False
        if self.kind != COUNT and self.unit != other.unit:
            return False
        return same_number(self.value, other.value)

    @property
    def label(self) -> str:
        """The value written the usual way, with its bound: "£4.6m", "over 95%", "2,200 bills"."""
        value = format_value(self.kind, self.value, self.unit)
        return f"{self.qualifier} {value}" if self.qualifier else value


def same_number(a: float, b: float) -> bool:
    """Equal to within rounding (values come from decimal text, so float noise only)."""
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def format_value(kind: str, value: float, unit: str) -> str:
    """£4.6m, £1.34bn, £800k, £650, 1.8%, 2,200 bills."""
    if kind == PERCENT:
        return f"{_short(value)}%"
    if kind == MONEY:
        symbol = next((s for s, code in CURRENCIES.items() if code == unit), unit + " ")
        for suffix, scale in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
            if abs(value) >= scale:
                return f"{symbol}{_short(value / scale)}{suffix}"
        return f"{symbol}{_short(value)}"
    number = f"{int(value):,}" if float(value).is_integer() else _short(value)
    return f"{number} {unit}".strip()


def _short(number: float) -> str:
    return f"{number:,.4f}".rstrip("0").rstrip(".")


def extract_figures(text: str) -> list[Figure]:
    """Every money amount, percentage and count in a text, in order (see the module docstring
    for what is left out)."""
    masked = _mask(text)
    figures: list[Figure] = []
    ranges = _range_spans(masked)
    for match in _FIGURE.finditer(masked):
        figure = _figure(text, masked, match)
        if figure is None or any(a <= match.start("num") < b for a, b in ranges):
            continue
        figures.append(figure)
    return figures


def _mask(text: str) -> str:
    """The text with every digit inside a non-figure (see _NOT_FIGURES) replaced by "#"."""
    chars = list(text)
    for pattern in _NOT_FIGURES:
        for match in pattern.finditer(text):
            for index in range(match.start(), match.end()):
                if chars[index].isdigit():
                    chars[index] = "#"
    return "".join(chars)


_AMOUNT = r"(?:(?:US)?[£$€]\s?)?(?:" + _NUMBER + r")"
_RANGE = re.compile(
    _AMOUNT + r"(?:\s?(?:k|m|mn|bn|thousand|million|billion)\b)?(?:\s?%)?"
    r"\s*(?:-|–|—)\s*" + _AMOUNT + r"|\bbetween\s+" + _AMOUNT + r"\S*\s+and\s+" + _AMOUNT,
    re.I,
)


def _range_spans(masked: str) -> list[tuple[int, int]]:
    """Where ranges are: "£3–4m", "10-15%", "2,000–3,400 staff", "between £3m and £4m"."""
    spans = []
    for match in _RANGE.finditer(masked):
        spans.append((match.start(), match.end()))
    return spans


def _figure(text: str, masked: str, match: re.Match) -> Figure | None:
    number = match.group("num")
    start, end = match.start("num"), match.end()
    # Trim the trailing space the optional groups may not have used.
    while end > start and text[end - 1].isspace():
        end -= 1
    before = masked[: match.start()]
    after = masked[end:]
    glued = before[-1:] and (before[-1].isalnum() or before[-1] in "#.,/_-–^'’")
    if glued and not match.group("cur"):
        return None  # inside a word or an identifier, a footnote marker ("savings.12")
    if after[:1] and (after[0].isalnum() or after[0] in "#/_^"):
        return None  # "20th", "5G", "217Arbuthnott", "10/11"
    if after[:1] == "-" and _WORD.match(after[1:2] or " "):
        return None  # "a 10-year contract": part of a compound word
    if after[:1] in ".," and after[1:2].isdigit():
        return None
    value = float(number.replace(",", ""))
    currency = match.group("cur")
    scale = match.group("scale") or match.group("scaleword")
    percent = match.group("pct")
    if currency:
        start = match.start("cur")
        kind, unit = MONEY, CURRENCIES[currency[-1]]
        value *= _SCALES[scale.lower()] if scale else 1
        if percent:
            return None
    elif percent:
        if scale:
            return None
        kind, unit = PERCENT, "%"
    else:
        if match.group("scale"):
            return None  # "4m" without a currency: metres, or a typo
        value *= _SCALES[scale.lower()] if scale else 1
        unit, length = _count_unit(text[end:])
        if not unit or "." in number and not scale:
            return None  # a bare number, or a decimal that counts nothing
        kind, end = COUNT, end + length
    qualifier, approximate = _qualifier(text[:start])
    return Figure(kind, value, unit, qualifier, approximate, start, end, text[start:end])


def _count_unit(after: str) -> tuple[str, int]:
    """The words a count counts, and how many characters of `after` they take: up to three
    lower-case words after the number, stopping at a function word, punctuation or a verb-like
    word ending in -ed after the first."""
    words: list[str] = []
    position = taken = 0
    while len(words) < 3:
        gap = len(after[position:]) - len(after[position:].lstrip(" "))
        if gap > 1 or (words and gap == 0) or (not words and gap == 0):
            break
        match = _WORD.match(after, position + gap)
        if not match:
            break
        word = match.group().rstrip("'’-")
        lower = word.lower()
        if (
            word != lower
            or lower in _NOT_UNITS
            or lower in _MONTH_WORDS
            or (words and lower.endswith(("ed", "ing", "wn")))
        ):
            break
        words.append(lower)
        position = taken = match.start() + len(word)
        if after[position : position + 1] != " ":
            break
    return " ".join(words), taken


_QUALIFIER = re.compile(
    r"(?:\b(?P<q>"
    + "|".join(sorted((re.escape(q) for q in [*_BOUNDS, *_APPROX]), key=len, reverse=True))
    + r")\s+)$",
    re.I,
)
# "added up to £4.6m" states the total, not a ceiling.
_SUMMED = re.compile(r"\b(?:add|adds|added|adding|come|comes|came|coming)\s+$", re.I)


def _qualifier(before: str) -> tuple[str, bool]:
    tail = before[-40:]
    found = _QUALIFIER.search(tail)
    if not found:
        return "", False
    word = found.group("q").lower()
    if word == "up to" and _SUMMED.search(tail[: found.start()]):
        return "", False
    if word in _BOUNDS:
        return _BOUNDS[word], False
    return "", True


def parse_value(text: str) -> Figure:
    """The one figure a book value such as "£4.6m", "1.8%" or "2,200 bills" states.

    Raises:
        ValueError: the text holds no figure or more than one.
    """
    found = extract_figures(text)
    if len(found) != 1:
        raise ValueError(
            f"{text!r} should state one money amount, percentage or count, "
            f"not {len(found) or 'no'} figures."
        )
    return found[0]
