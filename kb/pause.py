"""A pause inside a document's write, for fault tests: kill the writer at a point known to be
mid-document, rather than after a guessed delay (which on a busy machine comes before anything
is written, and on a fast one after everything is).

Set KB_TEST_PAUSE_AFTER_PASSAGES=N (kb.settings): the process writing a document stops inside
its transaction once N of its passages are written, when the document has more than N, writes
where it stopped to `<data_dir>/paused` (JSON: document, written, total, pid) and sleeps until
it is killed. Nothing calls this unless that variable is set.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

PAUSED_FILE = "paused"


def pause_after(count: int, marker: Path) -> Callable[[str, int, int], None]:
    """A Store.on_passage_written hook that pauses after `count` passages of a document."""

    def hook(document_id: str, written: int, total: int) -> None:
        if written != count or written >= total:
            return
        said = {"document": document_id, "written": written, "total": total, "pid": os.getpid()}
        partial = marker.with_name(marker.name + ".tmp")
        partial.write_text(json.dumps(said))
        os.replace(partial, marker)  # whole or absent, for the test that polls it
        while True:
            time.sleep(60)

    return hook
