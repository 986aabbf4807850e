"""The memory measure the stress tests assert on sees what the process allocates, and only that."""

from __future__ import annotations

import subprocess
import sys
import time

from .procfs import PeakOwnMemory, needs_procfs, own_memory_kib, rss_kib

#: A child that allocates (and touches) 32 MiB when told to, frees it when told to, then waits.
CHILD = """
import sys
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
block = bytearray(32 * 1024 * 1024)
sys.stdout.write("allocated\\n"); sys.stdout.flush()
sys.stdin.readline()
del block
sys.stdout.write("freed\\n"); sys.stdout.flush()
sys.stdin.readline()
"""


@needs_procfs
def test_the_peak_of_a_passing_allocation_is_seen() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "ready\n"
        with PeakOwnMemory(child.pid) as memory:
            assert own_memory_kib(child.pid) <= rss_kib(child.pid)
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "allocated\n"
            deadline = time.monotonic() + 5.0
            while memory.grown < 30 * 1024 and time.monotonic() < deadline:
                time.sleep(memory.interval)  # the sampler's next look
            child.stdin.write("free\n")
            child.stdin.flush()
            assert child.stdout.readline() == "freed\n"
        after = own_memory_kib(child.pid)
    finally:
        child.kill()
        child.wait()
    assert 30 * 1024 <= memory.grown < 40 * 1024, memory.grown
    assert after - memory.base < 4 * 1024  # handed back: the peak was a moment
