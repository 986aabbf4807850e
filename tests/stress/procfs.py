"""What a test reads about the server process from ``/proc`` (Linux only)."""

from __future__ import annotations

import os
import re
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

needs_procfs = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not Path("/proc/self/status").exists(),
    reason="needs Linux /proc",
)


def _status(pid: int, *fields: str) -> int:
    """The sum of the named ``/proc/<pid>/status`` fields (each in KiB, or a count); 0 for an absent one.

    ``VmSwap`` is absent on a kernel without swap; ``VmRSS`` and the others
    are always there for a live process.
    """
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            values[name] = int(rest.split()[0])
    if not values:
        raise LookupError(f"none of {fields} for process {pid}")
    return sum(values.values())


def rss_kib(pid: int) -> int:
    """Resident set size now (VmRSS), in KiB: the figure ``ps`` and ``top`` show, for reports."""
    return _status(pid, "VmRSS")


def own_memory_kib(pid: int) -> int:
    """What the process's own allocations hold now: anonymous memory, resident or swapped out, in KiB.

    This is what memory bounds are asserted on.  VmRSS also counts the
    program's files in the page cache, and memory pressure from any other
    process on the machine may evict those pages or swap anonymous ones out,
    then the process faults them back in: VmRSS moves for reasons outside the
    server.  RssAnon + VmSwap moves only when the server allocates or frees.
    """
    return _status(pid, "RssAnon", "VmSwap")


class PeakOwnMemory:
    """The highest ``own_memory_kib`` of a process while inside the ``with``, sampled by a thread.

    A sample every ``interval`` seconds (reading ``/proc/<pid>/status`` costs
    tens of microseconds): a spike shorter than that may go unseen, which can
    only make a bound laxer, never fail a test the server passes.
    """

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid = pid
        self.interval = interval
        self.base = own_memory_kib(pid)
        self.peak = self.base
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name=f"peak-memory-{pid}", daemon=True)

    def __enter__(self) -> PeakOwnMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join(5.0)
        self._take()

    @property
    def grown(self) -> int:
        """The peak above the memory held on entry, in KiB."""
        return self.peak - self.base

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self._take()

    def _take(self) -> None:
        try:
            self.peak = max(self.peak, own_memory_kib(self.pid))
        except (OSError, LookupError):  # the process is gone
            self._done.set()


def settled_kib(
    pid: int,
    read: Callable[[int], int] = rss_kib,
    *,
    quiet: float = 2.0,
    timeout: float = 15.0,
    tolerance: int = 64,
) -> int:
    """``read(pid)`` once it has stayed within ``tolerance`` KiB for ``quiet`` seconds (bounded polling).

    An idle server may hand freed memory back to the OS a moment after a
    burst; there is nothing to wait on but the number itself.
    """
    deadline = time.monotonic() + timeout
    value = read(pid)
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now_value = read(pid)
        if abs(now_value - value) > tolerance:
            value, since = now_value, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return value


def peak_rss_kib(pid: int) -> int:
    """The highest resident set size since start or the last ``reset_peak`` (VmHWM), in KiB, for reports."""
    return _status(pid, "VmHWM")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the whole process so far, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_count(pid: int) -> int:
    return _status(pid, "Threads")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``clear_refs`` 5, Linux 4.0+); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def open_files_limit(pid: int) -> tuple[int, int]:
    """The soft and hard RLIMIT_NOFILE of a process, from ``/proc/<pid>/limits``."""
    text = Path(f"/proc/{pid}/limits").read_text()
    match = re.search(r"^Max open files\s+(\d+)\s+(\d+)", text, re.MULTILINE)
    assert match, text
    return int(match[1]), int(match[2])


def open_fds(pid: int) -> int:
    """Descriptors the process holds now."""
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


#: Run by ``open_files_limit_wrapper``: set RLIMIT_NOFILE, then become the real command.
_SET_LIMIT = (
    "import os, resource, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2]))); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def open_files_limit_wrapper(soft: int, hard: int | None = None) -> list[str]:
    """A command prefix that runs the server with RLIMIT_NOFILE ``(soft, hard)`` (same pid, via exec)."""
    if hard is None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return [sys.executable, "-c", _SET_LIMIT, str(soft), str(hard)]
