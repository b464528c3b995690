"""The figures stored beside each passage (table `passage_figures`, migration 0004).

`write_passage_figures` runs inside the store's write of a document (Store.put_document), so a
passage and its figures are written, replaced and removed together, for every document however
it came in. A store whose figures were read by an older extractor (or before figures existed)
is brought up to date by `refresh_figures`, which `kb ingest` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kb.figures.extract import EXTRACTOR_VERSION
from kb.figures.extract import Figure
from kb.figures.extract import extract_figures

if TYPE_CHECKING:
    from kb.store import Store
    from kb.store.base import Connection

VERSION_KEY = "figures_version"
_COLUMNS = (
    "f.passage_id, f.ordinal, f.kind, f.value, f.unit, f.qualifier, f.approximate,"
    " f.char_start, f.char_end, f.text, f.sub"
)


@dataclass(frozen=True)
class StoredFigure:
    """A figure as stored: which passage, which of its vectors covers it, and the figure."""

    passage_id: int
    ordinal: int
    sub: int
    figure: Figure


def sub_for(start: int, sentence_spans: Sequence[tuple[int, int]]) -> int:
    """Which of a passage's vectors covers a position: 1.. the sentence vector whose sentence
    holds it, 0 (the whole passage) when none does or the passage has no sentence vectors."""
    for sub, (begin, end) in enumerate(sentence_spans, start=1):
        if begin <= start < end:
            return sub
    return 0


def write_passage_figures(
    conn: Connection,
    passage_id: int,
    text: str,
    sentence_spans: Sequence[tuple[int, int]] = (),
) -> int:
    """Extract and store the figures of one passage; returns how many. Call inside the
    transaction that writes the passage."""
    rows = [
        (
            passage_id,
            ordinal,
            f.kind,
            f.value,
            f.unit,
            f.qualifier,
            int(f.approximate),
            f.start,
            f.end,
            f.text,
            sub_for(f.start, sentence_spans),
        )
        for ordinal, f in enumerate(extract_figures(text))
    ]
    conn.executemany(
        "INSERT INTO passage_figures (passage_id, ordinal, kind, value, unit, qualifier,"
        " approximate, char_start, char_end, text, sub) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    return len(rows)


def mark_current(conn: Connection) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (VERSION_KEY, EXTRACTOR_VERSION),
    )


def figures_current(store: Store) -> bool:
    """Whether the stored figures were read by this extractor (an empty store is current)."""
    return store.get_meta(VERSION_KEY) == EXTRACTOR_VERSION or store.count_passages() == 0


def refresh_figures(store: Store) -> int:
    """Read the figures of every passage again when the extractor changed; returns how many
    passages were read (0 when the stored figures are current).

    The sentence a figure sits in is not known here (the splitter is ingest's), so refreshed
    figures point at their passage's own vector (sub 0) until the document is ingested again.
    Passages and vectors are unchanged, so the search generation is not bumped.
    """
    if figures_current(store):
        return 0
    with store.side_transaction() as conn:
        old_subs = {
            (row[0], row[1]): row[2]
            for row in conn.execute("SELECT passage_id, char_start, sub FROM passage_figures")
        }
        conn.execute("DELETE FROM passage_figures")
        rows = conn.execute("SELECT id, text FROM passages").fetchall()
        for passage_id, text in rows:
            write_passage_figures(conn, passage_id, text)
        # Keep what an earlier ingest knew of each figure's sentence where the figure is the same.
        conn.executemany(
            "UPDATE passage_figures SET sub = ? WHERE passage_id = ? AND char_start = ?",
            [(sub, pid, start) for (pid, start), sub in old_subs.items() if sub],
        )
        mark_current(conn)
    return len(rows)


def _stored(row: Sequence) -> StoredFigure:
    pid, ordinal, kind, value, unit, qualifier, approximate, start, end, text, sub = row
    return StoredFigure(
        pid, ordinal, sub, Figure(kind, value, unit, qualifier, bool(approximate), start, end, text)
    )


def figures_of_kind(store: Store, kind: str) -> list[StoredFigure]:
    """Every stored figure of a kind (money, percent, count), by passage and position."""
    rows = store.connection().execute(
        f"SELECT {_COLUMNS} FROM passage_figures f WHERE f.kind = ?"
        " ORDER BY f.passage_id, f.ordinal",
        (kind,),
    )
    return [_stored(row) for row in rows]


def figures_of_passage(store: Store, passage_id: int) -> list[StoredFigure]:
    rows = store.connection().execute(
        f"SELECT {_COLUMNS} FROM passage_figures f WHERE f.passage_id = ? ORDER BY f.ordinal",
        (passage_id,),
    )
    return [_stored(row) for row in rows]


def count_figures(store: Store) -> int:
    return store.connection().execute("SELECT COUNT(*) FROM passage_figures").fetchone()[0]


def vectors_for(store: Store, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """The stored vectors for (passage id, sub) pairs: sub 0 is the passage's own vector, 1..
    its sentence vectors (a missing sentence vector falls back to the passage's)."""
    wanted = sorted(set(keys))
    found: dict[tuple[int, int], np.ndarray] = {}
    conn = store.connection()
    for start in range(0, len(wanted), 400):
        part = set(wanted[start : start + 400])
        ids = sorted({pid for pid, _ in part})
        marks = ",".join("?" * len(ids))
        for pid, blob in conn.execute(
            f"SELECT id, embedding FROM passages WHERE id IN ({marks})", ids
        ):
            found[(pid, 0)] = np.frombuffer(blob, dtype=np.float32)
        for pid, sub, blob in conn.execute(
            "SELECT passage_id, sub, embedding FROM sentence_vectors"
            f" WHERE passage_id IN ({marks})",
            ids,
        ):
            if (pid, sub) in part:
                found[(pid, sub)] = np.frombuffer(blob, dtype=np.float32)
    vectors = {}
    for key in wanted:
        vector = found.get(key, found.get((key[0], 0)))
        if vector is not None:
            vectors[key] = vector
    return vectors
