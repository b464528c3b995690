"""kb.memory: a serving process hands large freed blocks back to the system."""

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

# A 16 MB block freed (glibc then raises its mmap threshold to 16 MB), then fifty 1 MB blocks,
# each followed by a small one that stays: freed, the 1 MB blocks leave holes under the small
# ones, which glibc's heap cannot give back; from their own mappings they go back at once.
FRAGMENTING = """
    import ctypes, json, sys
    from kb.memory import return_large_blocks_to_the_system

    def resident_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024

    took = return_large_blocks_to_the_system() if sys.argv[1] == "on" else None
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    big = bytearray(16 * 2**20)
    del big
    blocks, kept = [], []
    for _ in range(50):
        blocks.append(bytearray(2**20))
        kept.append(libc.malloc(1000))
    before = resident_mb()
    del blocks
    print(json.dumps({"took": took, "returned_mb": before - resident_mb()}))
"""


def _run(setting: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FRAGMENTING), setting],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_large_freed_blocks_go_back_to_the_system():
    without = _run("off")
    assert without["returned_mb"] < 10  # glibc's own behaviour: the memory stays
    fixed = _run("on")
    assert fixed["took"] is True
    assert fixed["returned_mb"] >= 45
