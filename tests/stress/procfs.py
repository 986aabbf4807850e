"""What a test reads about the server process from ``/proc`` (Linux only)."""

from __future__ import annotations

import os
import re
import resource
import sys
import time
from pathlib import Path

import pytest

needs_procfs = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not Path("/proc/self/status").exists(),
    reason="needs Linux /proc",
)


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"no {field} for process {pid}")


def rss_kib(pid: int) -> int:
    """Resident set size now (VmRSS), in KiB."""
    return _status(pid, "VmRSS")


def settled_rss_kib(pid: int, *, quiet: float = 2.0, timeout: float = 15.0, tolerance: int = 64) -> int:
    """VmRSS once it has stayed within ``tolerance`` KiB for ``quiet`` seconds (bounded polling).

    An idle server may hand freed memory back to the OS a moment after a
    burst; there is nothing to wait on but the number itself.
    """
    deadline = time.monotonic() + timeout
    value = rss_kib(pid)
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now_value = rss_kib(pid)
        if abs(now_value - value) > tolerance:
            value, since = now_value, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return value


def peak_rss_kib(pid: int) -> int:
    """The highest resident set size since start or the last ``reset_peak`` (VmHWM), in KiB."""
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
