"""Plain-text loader: paragraphs are separated by blank lines; there are no pages or sections."""

from __future__ import annotations

import re

from ingest.blocks import Block
from ingest.blocks import LoadedFile
from ingest.loaders.common import decode_text
from ingest.loaders.common import tidy

_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")


def load_text(data: bytes, name: str) -> LoadedFile:
    """Read plain text (UTF-8, else cp1252, else latin-1) into paragraph blocks.

    Args:
        data: the file's bytes.
        name: the file's name (unused: any decodable text is readable).

    Returns:
        One block per paragraph, with no page and section "".
    """
    paragraphs = (tidy(part) for part in _BLANK_LINE.split(decode_text(data)))
    return LoadedFile(blocks=[Block(text, None, "") for text in paragraphs if text])
