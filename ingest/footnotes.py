"""Source keys in Markdown: footnote references `[^key]` and Sources definitions.

The contract with the corpus writers (corpus/README.md): a paragraph or list item cites with
footnote references, `... on about 2,200 bills.[^bbc-2011][^register-2011]`, and the document's
`## Sources` section holds one definition per line,
`[^bbc-2011]: BBC News (2011) "Title of the piece". https://full.address/ (read 2026-11-30)`,
with an optional note after the title on how we read it or what kind of item it is,
`[^caaf-2010]: Audit Scotland (2010) "Title", summarised by CAAF. https://... (read ...)`: "Who"
is the author, never the channel (a channel written there became the author of every citation
and exported reference). References are taken out of the text that is stored, shown and
embedded, and kept as keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.models import Source
from kb.sources import KEY

# A reference is never followed by ":" (that is a definition). The key may be malformed here so
# that the check can name it; KEY says what a good one is. (No leading run of spaces in the
# pattern: retried at every space of a long run, it took quadratic time; tests/test_fuzz.py.)
REFERENCE = re.compile(r"\[\^([^\[\]\s]{1,80})\](?!:)")
_LONGEST_ENTRY = 2000  # characters; a longer "definition" is not a reference entry
DEFINITION = re.compile(r"^ {0,3}\[\^([^\[\]\s]{1,80})\]:[ \t]*(.*)$")
# Who (Year) "Title", note. URL (read YYYY-MM-DD); curly quotes are accepted around the title,
# and the full stop after it may sit inside the quotes ("Title."). The note (after a comma that
# follows the closing quote) holds no quotation mark, so the title ends at the last one; the
# address is the last word but for the read date, so a full stop inside the note is its own.
# Without a note this reads every entry exactly as the form without notes did.
_ENTRY = re.compile(
    r"^(?P<who>\S.*?)\s+\((?P<year>\d{4}[a-z]?|n\.d\.)\)\s+"
    r"[\"\u201c](?P<title>.+)[\"\u201d]"
    r"(?:,(?P<note>[^\"\u201c\u201d]*?))?\.?\s+"
    r"(?P<url>https?://\S+?)"
    r"(?:\s+\(read\s+(?P<read>\d{4}-\d{2}-\d{2})\))?\.?\s*$"
)
FORM = 'Who (Year) "Title". https://address (read YYYY-MM-DD)'
FORM_WITH_NOTE = 'Who (Year) "Title", note. https://address'
# A quotation mark then a comma inside the title: a note written with quotation marks
# (`"Title", via "The Herald". URL`) that the title has swallowed.
_NOTE_IN_TITLE = re.compile(r"[\"\u201d],\s")
_ADDRESS = re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Definition:
    """One `[^key]: ...` line: the source it defines, or why it could not be read."""

    key: str
    line: int
    text: str  # the definition after the colon, as written
    source: Source | None
    problem: str = ""


def take_references(text: str) -> tuple[str, tuple[str, ...]]:
    """The text without its footnote references, and their keys in order (each once).

    A reference right after a word or full stop is removed with any space before it, so
    "bills. [^a]" and "bills.[^a]" both read "bills.".
    """
    matches = list(REFERENCE.finditer(text))
    if not matches:
        return text, ()
    pieces, at = [], 0
    for match in matches:
        pieces.append(text[at : match.start()].rstrip(" \t"))
        at = match.end()
    pieces.append(text[at:])
    return "".join(pieces), tuple(dict.fromkeys(match.group(1) for match in matches))


def parse_definition(key: str, body: str, line: int) -> Definition:
    """Read one definition's text into a Source; a malformed one carries a problem instead."""
    body = body.strip()
    if not KEY.match(key):
        return Definition(key, line, body, None, f"the key [^{key}] is not lower-case a-z, 0-9, -")
    match = _ENTRY.match(body) if len(body) <= _LONGEST_ENTRY else None
    if match is None:
        if not re.search(r"https?://", body):
            problem = f"the source [^{key}] has no http(s) address"
        else:
            problem = f"the source [^{key}] is not of the form {FORM}"
        return Definition(key, line, body, None, problem)
    title, note = match["title"].strip(), match["note"]
    problem = ""
    if note is not None and not note.strip():
        problem = (
            f"the source [^{key}] has a comma after its title but no note: write how we read it "
            f"after the comma ({FORM_WITH_NOTE}) or drop the comma"
        )
    elif note is not None and _ADDRESS.search(note):
        problem = (
            f"the note of the source [^{key}] holds a web address: give the address we read as "
            f"the entry's address and name the channel in words ({FORM_WITH_NOTE})"
        )
    elif _NOTE_IN_TITLE.search(title):
        problem = (
            f"the title of the source [^{key}] holds a quotation mark followed by a comma: write "
            f"the note after the title without quotation marks ({FORM_WITH_NOTE})"
        )
    if problem:
        return Definition(key, line, body, None, problem)
    source = Source(
        key=key,
        who=match["who"].strip().rstrip(","),
        year=match["year"],
        title=title,
        url=match["url"].rstrip(".,;"),
        read=match["read"] or "",
        note=" ".join((note or "").split()),
    )
    return Definition(key, line, body, source)
