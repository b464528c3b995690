"""Resident memory of long-running processes: large freed blocks go back to the system."""

from __future__ import annotations

import ctypes

# glibc's malloc.h: the size from which malloc serves a block from its own mapping.
M_MMAP_THRESHOLD = -3
LARGE_BLOCK = 128 * 1024  # glibc's default threshold, kept fixed


def return_large_blocks_to_the_system() -> bool:
    """Serve every block of 128 KB or more from a mapping of its own, unmapped when it is freed.

    glibc starts there, but raises the threshold each time such a block is freed (up to 32 MB),
    and from then on large blocks come from the heap, where a freed one stays resident
    whenever anything smaller lies above it. A server loads the model's 90 MB export in large
    temporary blocks, then searches: measured with `kb serve --production` on the default
    corpus, resident memory ready was 245 to 275 MB from one start to the next and 298 to 307 MB
    after 1,000 searches; with the threshold fixed, 231 to 234 and 271 to 272 MB, with the same
    latency (docs/performance.md, "Resident memory of a server"). Call it first thing in a
    serving process.

    Returns:
        Whether it took effect (False where malloc is not glibc's).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK))
