"""The audit log: who added, replaced, edited or removed which document, who confirmed or
dismissed a statement found under a figure (kb.figures.reviews), and when.

Kept in the knowledge base's database beside the documents; entries are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from kb.store import Store

ACTIONS = ("add", "replace", "edit", "remove", "confirm-figure", "dismiss-figure")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    user: str
    action: str
    document_id: str
    title: str
    detail: str


class AuditLog:
    """The audit entries in a store's database.

    Args:
        store: the knowledge base's store (its migrations create the table).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self, user: str, action: str, document_id: str, title: str, detail: str = ""
    ) -> None:
        """Add an entry.

        Args:
            user: the account that did it.
            action: one of ACTIONS.
            document_id: the document it was done to.
            title: the document's title then (the document may later be gone).
            detail: a short note for people (the file name, what changed).
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        # A transaction of its own, or (the document service's case) a part of the caller's:
        # the entry commits with the change it records, or not at all.
        with self.store.side_transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (at, username, action, document_id, title, detail)"
                " VALUES (?,?,?,?,?,?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    user,
                    action,
                    document_id,
                    title,
                    detail,
                ),
            )

    def entries(self, limit: int = 200, document_id: str | None = None) -> list[AuditEntry]:
        """The newest entries first, for all documents or one."""
        where, params = ("WHERE document_id = ?", [document_id]) if document_id else ("", [])
        rows = self.store.connection().execute(
            f"SELECT id, at, username, action, document_id, title, detail FROM audit_log {where}"
            " ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [AuditEntry(*row) for row in rows]
