"""Errors a person can act on. The CLI and the API turn each into one sentence."""


class KBError(Exception):
    """Base for every error this project raises on purpose."""


class IngestError(KBError):
    """A file could not be taken in; nothing was stored for it."""


class UnsupportedFormat(IngestError):
    """The file's kind is not one we can read, or its content does not match its name."""


class EmptyDocument(IngestError):
    """The file holds no text at all."""


class CorruptFile(IngestError):
    """The file is damaged or is not what it claims to be."""


class EncryptedFile(IngestError):
    """The file is password-protected."""


class NoExtractableText(IngestError):
    """The file has no text layer (a scan): it needs OCR first."""


class FileTooLarge(IngestError):
    """The file is bigger than the configured limit."""


class DuplicateDocument(IngestError):
    """The very same file (by sha256) is already stored as another document.

    Attributes:
        document_id: the id of the document that holds it.
        title: that document's title.
    """

    def __init__(self, message: str, document_id: str, title: str) -> None:
        super().__init__(message)
        self.document_id = document_id
        self.title = title


class CatalogError(KBError):
    """The corpus catalog is missing, malformed or names a file that is not there."""


class QueryError(KBError):
    """A search request cannot be answered as asked (empty query, bad filter, k out of range)."""


class NotFound(KBError):
    """No document, passage or myth has that id."""


class SettingsError(KBError):
    """A setting (a KB_* variable or a flag) has a value that cannot be used."""


class StoreError(KBError):
    """The store cannot be used (locked past the timeout, disk full, a model mismatch)."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached (down, restarting, the network): nothing was done,
    and the same request will work once it is back."""


class ModelMismatch(StoreError):
    """The stored vectors came from another embedding model: re-embed before searching."""


class AccountError(KBError):
    """A researcher account cannot be created or used as asked (bad name, weak password)."""
