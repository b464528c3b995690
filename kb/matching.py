"""How closely the corpus answers a query: "good", "weak" or "none", and what to tell a person.

The level comes from the best cosine between the query and any passage or sentence vector
searched; the cut-offs are set by measurement on answerable and off-topic questions
(docs/evaluation.md) and live in SearchSettings.
"""

from __future__ import annotations

MATCH_LEVELS = ("good", "weak", "none")

# (heading, explanation), shown above the results on the search page and by `kb search`; the
# widget (web/static/widget.js) words them the same way.
MATCH_NOTICES = {
    "none": (
        "No close match",
        "Nothing in the evidence answers this closely. The nearest passages are below; "
        "they may be about something else.",
    ),
    "weak": ("Only a weak match", "Check that these passages answer your question."),
}


def match_level(similarity: float, none_below: float, good_from: float) -> str:
    """The level for a best query-passage cosine."""
    if similarity < none_below:
        return "none"
    return "weak" if similarity < good_from else "good"
