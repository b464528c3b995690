"""The corpus catalog (`corpus/catalog.toml`): which documents make the default corpus."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kb.errors import CatalogError
from kb.models import DocumentMeta

REQUIRED = ("id", "file", "title", "publisher", "year", "kind")
KINDS = ("report", "guidance", "case-study", "article", "briefing", "document")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


@dataclass(frozen=True)
class CatalogEntry:
    """A catalog document; `own` marks our own writing, which must name a source for every
    figure and quotation (ingest/source_check.py)."""

    meta: DocumentMeta
    path: Path
    own: bool = False


def slugify(text: str) -> str:
    """A document id from a name: lower case, words joined by hyphens, at most 80 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80].strip("-")
    return slug or "document"


def validate_meta(meta: DocumentMeta) -> None:
    """Raise CatalogError when metadata is unusable (a person wrote it; tell them what to fix)."""
    if not SLUG.match(meta.id):
        raise CatalogError(
            f"The id {meta.id!r} must be lower-case letters, digits and hyphens (at most 80)."
        )
    if not meta.title.strip():
        raise CatalogError(f"Document {meta.id!r} needs a title.")
    if meta.kind not in KINDS:
        raise CatalogError(
            f"Document {meta.id!r} has kind {meta.kind!r}; use one of {', '.join(KINDS)}."
        )
    if meta.year is not None and not 1800 <= meta.year <= 2100:
        # 3000 is a year, just not a publication year: say which years are taken.
        raise CatalogError(
            f"Document {meta.id!r} has year {meta.year}; give the year it was published, "
            "from 1800 to 2100."
        )


def read_entries(path: Path, table: str, what: str, allow_empty: bool = False) -> list[dict]:
    """The `[[table]]` entries of a TOML file the corpus keeps (catalog, myths, figure book).

    Args:
        what: how a message names the file, e.g. "The myths file".
        allow_empty: whether a file with no such entries is fine.

    Raises:
        CatalogError: the file is missing or not TOML, holds no entries (unless allowed), or an
            entry is not a table.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"{what} {path} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{what} {path} is not valid TOML: {exc}.") from exc
    entries = data.get(table, [])
    if not isinstance(entries, list) or not (entries or allow_empty):
        raise CatalogError(f"{what} {path} holds no [[{table}]] entries.")
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise CatalogError(f"Entry {number} ([[{table}]]) in {path} is not a table.")
    return entries


def load_catalog(path: Path) -> list[CatalogEntry]:
    """Read and check the catalog; file paths are resolved against the catalog's folder.

    Raises:
        CatalogError: the file is missing or malformed, an entry lacks a field, or two
            entries share an id.
    """
    raw_entries = read_entries(path, "document", "The catalog", allow_empty=True)
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_entries, start=1):
        missing = [name for name in REQUIRED if name not in raw]
        if missing:
            raise CatalogError(
                f"Catalog entry {number} ({raw.get('id', 'no id')}) lacks {', '.join(missing)}."
            )
        if not isinstance(raw["year"], int):
            raise CatalogError(f"Catalog entry {raw['id']!r} has a year that is not a number.")
        meta = DocumentMeta(
            id=raw["id"],
            title=raw["title"],
            publisher=raw["publisher"],
            year=raw["year"],
            kind=raw["kind"],
            url=raw.get("url", ""),
            tags=tuple(raw.get("tags", ())),
        )
        validate_meta(meta)
        if not isinstance(raw.get("own", False), bool):
            raise CatalogError(f"Catalog entry {raw['id']!r} has own that is not true or false.")
        if meta.id in seen:
            raise CatalogError(f"The catalog lists the id {meta.id!r} twice.")
        seen.add(meta.id)
        entries.append(CatalogEntry(meta, Path(path).parent / raw["file"], raw.get("own", False)))
    return entries
