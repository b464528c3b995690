"""The rule our own documents keep: every figure and quotation names its source.

In a document of ours (a catalog entry with `own = true`, see corpus/README.md), every paragraph
or list item outside the Sources section that holds a digit or a double-quoted phrase carries
at least one source key, every key resolves to a definition in the same document, and every
definition has the contract's form with an http(s) address and an author that is only the
author (how we read the source goes in the note after the title). Uploaded third-party
documents are their own source and are not held to it.
"""

from __future__ import annotations

import re
from collections import Counter

from ingest.blocks import LoadedFile
from ingest.footnotes import FORM_WITH_NOTE
from kb.models import Source
from kb.sources import KEY
from kb.sources import is_reference_section

_FIGURE = re.compile(r"\d")
_QUOTED = re.compile(r"\"[^\"\s][^\"]*\"|\u201c[^\u201c\u201d]+\u201d")
_SHOWN = 60  # characters of the paragraph shown in a problem
# An author followed by a comma and a lower-case word ("CAAF, summarising Audit Scotland",
# "Local Government Association, media release"): a note on how we read the source written
# where the author goes, which every citation and exported reference then gave as the author.
_NOTE_IN_AUTHOR = re.compile(r",\s+[a-z]")


def needs_source(text: str) -> bool:
    """Whether a paragraph states a figure (a digit) or a quotation (a double-quoted phrase)."""
    return bool(_FIGURE.search(text) or _QUOTED.search(text))


def source_problems(loaded: LoadedFile, name: str) -> list[str]:
    """Each place the document breaks the rule, as "name:line: what to fix" (empty when none).

    Args:
        loaded: the document as the Markdown loader read it (blocks with lines and keys).
        name: how to name the file in the problems (its path relative to the corpus).
    """
    problems: list[tuple[int, str]] = []
    defined = {d.key for d in loaded.definitions}  # a malformed one is reported by itself
    for definition in loaded.definitions:
        if definition.problem:
            problems.append((definition.line, f"{definition.problem}."))
        elif definition.source is not None and _NOTE_IN_AUTHOR.search(definition.source.who):
            problems.append((definition.line, _note_in_author(definition.source)))
    counts = Counter(d.key for d in loaded.definitions)
    for definition in loaded.definitions:
        if counts[definition.key] > 1 and definition.line != _first_line(loaded, definition.key):
            problems.append((definition.line, f"the source [^{definition.key}] is defined twice."))
    for block in loaded.blocks:
        if block.heading or block.line is None or is_reference_section(block.section):
            continue
        for key in block.source_keys:
            if not KEY.match(key):
                problems.append((block.line, f"the key [^{key}] is not lower-case a-z, 0-9, -."))
            elif key not in defined:
                problems.append((block.line, f"the key [^{key}] has no entry in Sources."))
        if not block.source_keys and needs_source(block.text):
            problems.append(
                (
                    block.line,
                    f"a figure or quotation without a source key "
                    f"(\u201c{_shorten(block.text)}\u201d); add [^key] and its Sources entry.",
                )
            )
    return [f"{name}:{line}: {problem}" for line, problem in sorted(problems, key=lambda p: p[0])]


def _note_in_author(source: Source) -> str:
    return (
        f"the author of the source [^{source.key}] (\u201c{source.who}\u201d) holds a note: "
        f"give the author alone and put the note after the title ({FORM_WITH_NOTE})."
    )


def _first_line(loaded: LoadedFile, key: str) -> int:
    return min(d.line for d in loaded.definitions if d.key == key)


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1].rstrip() + "\u2026"
