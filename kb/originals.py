"""The original files of documents, by their sha256: in a folder, or in the database.

An upload is kept here as soon as a server accepts it, so that whichever worker takes the job
in can read it, and it stays as the document's original, which /files/<id> serves. Two places,
chosen by `Settings.originals`:

- "folder" (the SQLite default: one machine): `<data folder>/files/<sha256><suffix>`, written
  whole or not at all (write, then rename);
- "database" (servers and workers on several machines, no shared disk): the `originals` table
  (migration 0008), one row per file.

Reads look in the database first and then in the folder, so documents kept in the folder
before a move to the database are still served.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from kb.errors import IngestError
from kb.store import Store
from kb.store.base import now

PLACES = ("folder", "database")


class Originals:
    """Where originals are kept and read.

    Args:
        store: the knowledge base's store (its database holds the `originals` table).
        folder: the files folder (`Settings.files_dir`).
        place: "folder" or "database" (see the module docstring).
    """

    def __init__(self, store: Store, folder: Path, place: str = "folder") -> None:
        if place not in PLACES:
            raise ValueError(f"originals are kept in a folder or the database, not {place!r}")
        self.store = store
        self.folder = Path(folder)
        self.place = place

    def keep(self, sha256: str, suffix: str, data: bytes, name: str = "") -> str:
        """Keep a file (once: the same bytes again are already there).

        Args:
            name: the file's name for messages.

        Returns:
            The path to record as the document's file_path: the kept file, or for the database
            its name (`<sha256><suffix>`), which no folder holds.

        Raises:
            IngestError: the file could not be written (nothing was kept).
        """
        suffix = suffix.lower()
        if self.place == "database":
            with self.store.side_transaction() as conn:
                conn.execute(
                    "INSERT INTO originals (sha256, suffix, size, data, added_at)"
                    " VALUES (?,?,?,?,?) ON CONFLICT (sha256) DO NOTHING",
                    (sha256, suffix, len(data), data, now()),
                )
            return f"{sha256}{suffix}"
        target = self.folder / f"{sha256}{suffix}"
        if not target.exists():
            # A name of this process and thread's own: two writers may keep the same file.
            tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                self.folder.mkdir(parents=True, exist_ok=True)  # fails too on a full disk
                tmp.write_bytes(data)
                os.replace(tmp, target)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise IngestError(
                    f"Could not keep a copy of {name or target.name}: {exc.strerror}."
                ) from exc
        return str(target)

    def read(self, sha256: str, file_path: str = "") -> bytes | None:
        """A kept file's bytes, or None when it is kept nowhere.

        Args:
            file_path: the path recorded with the document (for originals kept in the folder
                before they were kept in the database); only a file inside the folder is read.
        """
        row = (
            self.store.connection()
            .execute("SELECT data FROM originals WHERE sha256 = ?", (sha256,))
            .fetchone()
        )
        if row is not None:
            return bytes(row[0])
        path = self.folder_path(file_path) or self._in_folder(sha256)
        try:
            return path.read_bytes() if path is not None else None
        except OSError:
            return None

    def has(self, sha256: str, file_path: str = "") -> bool:
        """Whether a file is kept (without reading it)."""
        row = (
            self.store.connection()
            .execute("SELECT 1 FROM originals WHERE sha256 = ?", (sha256,))
            .fetchone()
        )
        return row is not None or self.folder_path(file_path) is not None

    def folder_path(self, file_path: str) -> Path | None:
        """The file a recorded path names, if it exists inside the files folder.

        A relative path was relative to wherever ingestion ran; its file name under the folder
        still finds it when the server runs elsewhere or the data folder moved. A path that
        resolves outside the folder is never returned.
        """
        if not file_path:
            return None
        root = self.folder.resolve()
        stored = Path(file_path)
        for candidate in (stored, root / stored.name):
            resolved = candidate.resolve()
            if resolved.is_relative_to(root) and resolved != root and resolved.is_file():
                return resolved
        return None

    def discard(self, sha256: str) -> None:
        """Forget a file that no document and no unfinished job refers to (a refused or
        failed upload); one still in use is left alone."""
        with self.store.side_transaction() as conn:  # no job or document takes it meanwhile
            in_use = conn.execute(
                "SELECT 1 FROM documents WHERE sha256 = ? UNION ALL"
                " SELECT 1 FROM jobs WHERE sha256 = ? AND status IN ('queued', 'running')",
                (sha256, sha256),
            ).fetchone()
            if in_use is not None:
                return
            conn.execute("DELETE FROM originals WHERE sha256 = ?", (sha256,))
            path = self._in_folder(sha256)
            if path is not None:
                path.unlink(missing_ok=True)

    def _in_folder(self, sha256: str) -> Path | None:
        """The file kept in the folder under this sha256 (whatever its suffix), if any."""
        for candidate in self.folder.glob(f"{sha256}.*") if sha256.isalnum() else ():
            if not candidate.name.endswith(".tmp"):
                return self.folder_path(str(candidate))
        return None
