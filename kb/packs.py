"""Evidence packs: passages a person collected, in their order, with headings and notes.

A pack arrives as JSON from the browser or the API (`parse_pack`) and is resolved against the
store (`resolve_pack`): the text, document and citation of every item come from what is stored
under its passage id, never from the request, which only supplies ids, the order, a title,
headings and notes. Ids that are no longer stored (a document removed or replaced since) are
kept aside as `missing`, so that a pack with gone items still renders the rest and says so.
The writers in `export/` turn a resolved pack into files.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import date

from kb.citations import cite
from kb.citations import permalink
from kb.errors import KBError
from kb.models import Citation
from kb.models import Document
from kb.models import Passage
from kb.myths.models import Myth

MAX_ITEMS = 200  # passages and headings together
MAX_NOTE_CHARS = 2000
MAX_TITLE_CHARS = 200
MAX_HEADING_CHARS = 200
MAX_MYTH_ID_CHARS = 100
DEFAULT_TITLE = "Evidence pack"
_MAX_PASSAGE_ID = 2**63 - 1  # SQLite's largest integer: beyond it a lookup would overflow

# C0 controls but tab and line feed, DEL, C1 controls, lone surrogates and the two
# non-characters that XML (and so Word) refuses.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class PackError(KBError):
    """A pack request is malformed or over a limit; the message names the item and the fix."""


@dataclass(frozen=True)
class PackHeading:
    """A heading of the person's own, between items."""

    text: str


@dataclass(frozen=True)
class PackEntry:
    """A passage as requested: its id, the person's note, and the myth it was added from."""

    passage_id: int
    note: str = ""
    myth_id: str | None = None


@dataclass(frozen=True)
class PackRequest:
    title: str
    entries: tuple[PackHeading | PackEntry, ...]


@dataclass(frozen=True)
class PackItem:
    """A resolved passage: everything shown comes from the store."""

    passage: Passage
    document: Document
    citation: Citation
    url: str  # the passage's permalink path in the reader
    note: str = ""
    myth: Myth | None = None


@dataclass(frozen=True)
class MissingItem:
    """A requested passage that is not stored (any more): its place in the pack and its id."""

    position: int  # 1-based, counting headings too, as the person sees the list
    passage_id: int


@dataclass
class Pack:
    title: str
    created: date
    entries: list[PackHeading | PackItem] = field(default_factory=list)
    missing: list[MissingItem] = field(default_factory=list)

    @property
    def items(self) -> list[PackItem]:
        return [entry for entry in self.entries if isinstance(entry, PackItem)]

    def documents(self) -> list[Document]:
        """The documents the items quote, once each, in order of first appearance."""
        seen: dict[str, Document] = {}
        for item in self.items:
            seen.setdefault(item.document.id, item.document)
        return list(seen.values())


def clean_text(value: str) -> str:
    """User text made safe to store and write anywhere: Unicode NFC, Windows line ends as
    line feeds, control characters (invalid in XML, or terminal escapes) removed, and the
    ends trimmed. Markup is left as it is: each writer shows it as text."""
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def parse_pack(data: object) -> PackRequest:
    """Validate a pack request.

    Args:
        data: the decoded JSON: {"title": str, "items": [{"passage": id, "note": str,
            "myth": id} or {"heading": str}, ...]}; title, note and myth are optional.

    Raises:
        PackError: the shape is wrong or a limit is passed; the message says which item.
    """
    if not isinstance(data, dict):
        raise PackError("Send the pack as a JSON object with 'title' and 'items'.")
    title = _line(_text(data.get("title", ""), "'title'", MAX_TITLE_CHARS)) or DEFAULT_TITLE
    items = data.get("items")
    if not isinstance(items, list):
        raise PackError("'items' must be a list of passages and headings.")
    if not items:
        raise PackError("The pack is empty: add at least one passage.")
    if len(items) > MAX_ITEMS:
        raise PackError(
            f"The pack has {len(items)} items; the limit is {MAX_ITEMS} "
            "(passages and headings together)."
        )
    entries = tuple(_entry(raw, number) for number, raw in enumerate(items, start=1))
    if not any(isinstance(entry, PackEntry) for entry in entries):
        raise PackError("The pack has only headings: add at least one passage.")
    return PackRequest(title=title, entries=entries)


def _entry(raw: object, number: int) -> PackHeading | PackEntry:
    where = f"item {number}"
    if not isinstance(raw, dict):
        raise PackError(f"Item {number} must be an object with 'passage' or 'heading'.")
    if "heading" in raw:
        if "passage" in raw:
            raise PackError(f"Item {number} has both 'heading' and 'passage'; give one.")
        heading = _line(_text(raw["heading"], f"The heading of {where}", MAX_HEADING_CHARS))
        if not heading:
            raise PackError(f"The heading of {where} is empty.")
        return PackHeading(heading)
    passage_id = raw.get("passage")
    # bool is an int in Python; "3" and 3.0 are not ids.
    if type(passage_id) is not int or not 1 <= passage_id <= _MAX_PASSAGE_ID:
        raise PackError(
            f"Item {number} needs 'passage': a passage id (a whole number from 1), "
            f"or 'heading': a text."
        )
    note = _text(raw.get("note", ""), f"The note of {where}", MAX_NOTE_CHARS)
    myth = raw.get("myth")
    if myth is not None and (not isinstance(myth, str) or len(myth) > MAX_MYTH_ID_CHARS):
        raise PackError(f"'myth' of {where} must be a myth id (text up to 100 characters).")
    return PackEntry(passage_id=passage_id, note=note, myth_id=myth or None)


def _text(value: object, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PackError(f"{name} must be text.")
    text = clean_text(value)
    if len(text) > limit:
        message = f"{name} is {len(text):,} characters long; the limit is {limit:,}."
        raise PackError(message[0].upper() + message[1:])
    return text


def _line(text: str) -> str:
    """Titles and headings are one line."""
    return " ".join(text.split())


def resolve_pack(
    store,
    request: PackRequest,
    today: date,
    find_myth: Callable[[str], Myth | None] = lambda _id: None,
) -> Pack:
    """The pack with each requested passage read from the store.

    Args:
        store: the kb.store.Store to read.
        request: a validated request (parse_pack).
        today: the pack's date.
        find_myth: the myth of an id, or None; an unknown myth id only drops the myth's
            answer, the passage stays.

    Returns:
        The pack; passages that are not stored are in `missing`, not in `entries`.
    """
    wanted = [e.passage_id for e in request.entries if isinstance(e, PackEntry)]
    passages = store.passages_by_id(wanted)
    documents = store.documents_by_id({p.document_id for p in passages.values()})
    pack = Pack(title=request.title, created=today)
    for position, entry in enumerate(request.entries, start=1):
        if isinstance(entry, PackHeading):
            pack.entries.append(entry)
            continue
        passage = passages.get(entry.passage_id)
        document = documents.get(passage.document_id) if passage else None
        if passage is None or document is None:
            pack.missing.append(MissingItem(position, entry.passage_id))
            continue
        myth = find_myth(entry.myth_id) if entry.myth_id else None
        pack.entries.append(
            PackItem(
                passage=passage,
                document=document,
                citation=cite(document, passage),
                url=permalink(passage),
                note=entry.note,
                myth=myth,
            )
        )
    return pack


def missing_sentence(pack: Pack) -> str | None:
    """The line a rendered pack carries when items are gone, or None when none is."""
    if not pack.missing:
        return None
    count = len(pack.missing)
    which = ", ".join(f"item {m.position} (passage {m.passage_id})" for m in pack.missing)
    subject = "1 item is" if count == 1 else f"{count} items are"
    return (
        f"{subject} no longer in the evidence base and left out (removed or replaced since "
        f"added): {which}."
    )
