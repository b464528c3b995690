"""The key that signs session cookies, shared by every server process of a data folder.

Given as SECRET_KEY (or the KB_SECRET_KEY environment variable), or else generated once into
`<data folder>/secret_key`, readable by its owner only (0600). Creating it is atomic (a
temporary file hard-linked into place), so processes starting together agree on one key.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from kb.errors import KBError

FILE_NAME = "secret_key"
_log = logging.getLogger(__name__)


def secret_key(data_dir: Path) -> str:
    """The data folder's signing key, created on first use.

    Args:
        data_dir: the knowledge base's data folder.

    Returns:
        The key (64 hex characters when generated here).

    Raises:
        KBError: the file cannot be made or read, or holds no usable key.
    """
    path = Path(data_dir) / FILE_NAME
    try:
        if not path.exists():
            _create(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KBError(
            f"The session key {path} cannot be made or read ({exc}); make the data folder "
            f"writable or set KB_SECRET_KEY."
        ) from exc
    if mode & 0o077:
        _log.warning("%s can be read by other users (mode %o); chmod 600 it.", path, mode)
    if len(key) < 32:
        raise KBError(f"{path} holds no usable session key; delete it and a new one is made.")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # fails if another process got there first: use theirs
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
