"""How much work one file may cause, in proportion to its size.

A small file can be built to expand enormously: six PDF pages sharing one 2 MB content stream
fit in 7 KB, and pypdf parses that stream again for every page (about 170 KB a second here), so
it once held an upload for 50 s and gave 3,672 vectors to embed. A time limit alone lets such a
file use the server for as long as the limit, so each thing a file expands to is bounded by an
allowance: a floor that any ordinary small file stays far below, plus an amount per KB of the
file. Crossing one refuses the file in one sentence, before the work is done where it can be
counted in advance (a content stream's decoded size is known before it is parsed).

The allowances, against what real files need (measured with the sizes below):
- page content: real PDFs decode to 0.6-1.1 bytes of content stream per byte of file (two
  LaTeX/DocBook manuals in /usr/share/doc); compressed text-only PDFs to a few; 20 leaves room
  for pages of vector drawings.
- extracted text: 0.24-0.27 characters per byte in the same files; 8 per byte is a PDF of text
  alone, compressed, with no embedded fonts.
- vectors (passages and sentences): our Markdown corpus gives 10-14 per KB of file (the
  densest, plain text); 64 per KB allows a compressed PDF several times denser than text.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.errors import FileTooLarge


def human_size(size: int) -> str:
    """ "50 MB", "1.5 KB", "12 bytes" (binary units, as the limits are set)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class Allowance:
    """How much of something a file may expand to: `floor` plus `per_kb` for each KB of file."""

    what: str  # for the message: "of page content", "characters of text"
    floor: int
    per_kb: int
    in_bytes: bool = False  # shown as "2 MB" rather than "2,097,152"

    def limit(self, file_size: int) -> int:
        return self.floor + self.per_kb * file_size // 1024

    def shown(self, amount: int) -> str:
        return f"{human_size(amount)} {self.what}" if self.in_bytes else f"{amount:,} {self.what}"


PAGE_CONTENT = Allowance("of page content", floor=1 << 20, per_kb=20 * 1024, in_bytes=True)
EXTRACTED_TEXT = Allowance("characters of text", floor=100_000, per_kb=8 * 1024)
VECTORS = Allowance("passages and sentences to embed", floor=1_000, per_kb=64)


class Meter:
    """Counts one kind of work for one file and refuses the file when its allowance is used up.

    Args:
        name: the file's name, for the message.
        file_size: the file's size in bytes.
        allowance: what may be spent.
    """

    def __init__(self, name: str, file_size: int, allowance: Allowance) -> None:
        self.name = name
        self.file_size = file_size
        self.allowance = allowance
        self.limit = allowance.limit(file_size)
        self.used = 0

    def spend(self, amount: int) -> None:
        """Count `amount` more, before doing the work when possible.

        Raises:
            FileTooLarge: the total passed the allowance.
        """
        self.used += amount
        if self.used > self.limit:
            raise FileTooLarge(
                f"{self.name} expands to more than {self.allowance.shown(self.limit)} from "
                f"{human_size(self.file_size)}, so it was refused; it may be built to exhaust "
                f"the server."
            )
