"""Primary sources: which of a document's Sources entries a passage cites.

Our own documents name where each figure and quotation comes from with a key (a Markdown
footnote, `[^bbc-2013]`) that resolves to an entry of the document's Sources section. Ingest
keeps the entries per document and the keys per passage; this module turns a passage's keys
back into entries. Citations are built from them in `kb.citations`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kb.models import Document
from kb.models import Passage
from kb.models import Source

# A key as the contract between writers and ingest says: lower-case letters, digits, hyphens.
KEY = re.compile(r"^[a-z0-9-]+$")

# Sections that list sources rather than say anything: a bibliography entry is not evidence, and
# its titles and addresses otherwise match queries about the very things they cite.
REFERENCE_SECTIONS = frozenset(
    {"sources", "references", "bibliography", "further reading", "notes and sources"}
)


def is_reference_section(section: str) -> bool:
    """Whether a section path ends in a list of sources ("Sources", "References", ...)."""
    return section.rsplit(" > ", 1)[-1].strip().lower() in REFERENCE_SECTIONS


def passage_sources(document: Document, passage: Passage) -> tuple[Source, ...]:
    """The Sources entries a passage cites, in the order it cites them.

    A key with no entry is left out: ingest refuses such keys in our own documents (`kb check`),
    and in a third party's Markdown an unresolvable footnote is not a source we can name.
    """
    return resolve(document.sources, passage.source_keys)


def resolve(sources: Iterable[Source], keys: Iterable[str]) -> tuple[Source, ...]:
    by_key = {source.key: source for source in sources}
    return tuple(by_key[key] for key in dict.fromkeys(keys) if key in by_key)


def source_to_dict(source: Source) -> dict:
    """The JSON shape of a source: key, who (the author), year, title, url, read and note (how
    we read it, e.g. "summarised by CAAF"; read and note are "" when not recorded)."""
    return {
        "key": source.key,
        "who": source.who,
        "year": source.year,
        "title": source.title,
        "url": source.url,
        "read": source.read,
        "note": source.note,
    }
