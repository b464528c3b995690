"""Questions that ask for a figure, and passages that state one of the asked kind.

"How much did Inverclyde pay PwC?" wants a sum of money, "what share of ..." a percentage,
"how many ..." a count, "when ..." a date. A passage that states a figure of that kind usually
answers better than one that only discusses the topic, so search gives it a small preference
(SearchSettings.figure_boost; measured in docs/evaluation.md).

The kinds and currencies are kb.figures.extract's. Whether a passage states a figure is a
quick look for its shape here, not kb.figures.extract's reading of each figure (which leaves
out dates, telephone numbers and the like): search ranks with this look, and
docs/evaluation.md's figures were measured with it.
"""

from __future__ import annotations

import re

from kb.figures.extract import COUNT
from kb.figures.extract import CURRENCIES
from kb.figures.extract import MONEY
from kb.figures.extract import PERCENT

DATE = "date"

_YEAR = r"(1[89]\d\d|20\d\d)"
_SYMBOLS = re.escape("".join(symbol for symbol in CURRENCIES if len(symbol) == 1))
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"

# What a question asks for: checked on the lower-cased query.
_ASKS = {
    PERCENT: re.compile(r"\b(percentage|per ?cent|proportion|fraction|what share|how much of)\b"),
    MONEY: re.compile(
        r"\b(how much|what (did|does|do|was|were|would) .*\b(cost|save|saved|pay|paid|worth)|"
        r"how big|what return|what savings|what budget|turnover)\b"
    ),
    COUNT: re.compile(r"\b(how many|what number of|how big|how old)\b"),
    DATE: re.compile(r"\b(when|what year|what date|how old)\b"),
}

# What a passage states: checked on its text.
_STATES = {
    PERCENT: re.compile(r"\d\s?%|\bper ?cent\b"),
    MONEY: re.compile(
        "|".join(re.escape(symbol) + r"\s?\d" for symbol in CURRENCIES)
        + r"|\b\d[\d,.]*\s?(bn|m|k|billion|million)\b"
    ),
    # A count is a whole number that is not part of a sum of money ("£4.6m", "£517k", "650k"),
    # a percentage, a decimal or a year (1800-2099): "went live in March 2009" states no count
    # for "how many invoices"; "3 million people" does.
    COUNT: re.compile(
        rf"(?<![{_SYMBOLS}\d.,])\b(?!{_YEAR}\b)\d[\d,]*\b(?![.,]?\d)"
        r"(?!\s?(%|per ?cent\b|bn\b|m\b|k\b))"
        r"|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
        r"dozen|hundred|thousand)\b",
        re.IGNORECASE,
    ),
    DATE: re.compile(rf"\b{_YEAR}\b|\b\d{{1,2}} ({_MONTHS})\b", re.IGNORECASE),
}


def asked_figures(query: str) -> frozenset[str]:
    """The kinds of figure a query asks for ("money", "percent", "count", "date"); often none."""
    text = " ".join(query.lower().split())
    return frozenset(kind for kind, pattern in _ASKS.items() if pattern.search(text))


def states_figure(text: str, kinds: frozenset[str]) -> bool:
    """Whether a passage states a figure of one of these kinds."""
    return any(_STATES[kind].search(text) for kind in kinds)
