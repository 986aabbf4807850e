"""What the benchmark reads about a server process from ``/proc``, and small process helpers."""

from __future__ import annotations

import os
import re
import resource
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Clock ticks per second, the unit of utime and stime in ``/proc/PID/stat``.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: The line every server in this benchmark logs once it listens (the sansio-chat CLI and the floors):
#: the listener's kind (for sansio-chat: text, irc...) and its port.
LISTENING = re.compile(rb"listening on (?:(\w[\w+]*)://)?[^\s]*:(\d+)\b")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a whole process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    fields = stat[stat.rindex(b")") + 2 :].split()
    # After the command name: state is field 3; utime and stime are fields 14 and 15.
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class CpuWait:
    """How long a process's threads waited for a CPU while ready to run, from ``schedstat``.

    Latency that no server can remove: on a small machine shared by the
    generator, the nodes and Redis, a process woken by a message may find
    both cores busy and wait on the run queue before it reads anything.
    """

    waited_s: float  # time runnable but not running, over all its threads
    slices: int  # times a thread was put on a CPU (each wake-up is one)

    def __sub__(self, earlier: CpuWait) -> CpuWait:
        return CpuWait(self.waited_s - earlier.waited_s, self.slices - earlier.slices)

    def __add__(self, other: CpuWait) -> CpuWait:
        return CpuWait(self.waited_s + other.waited_s, self.slices + other.slices)


def cpu_wait(pid: int) -> CpuWait:
    """The run-queue wait of every thread of ``pid`` so far (threads that ended are not counted)."""
    waited_ns = slices = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            # "time on a CPU (ns), time waiting on a run queue (ns), timeslices run"
            _, waited, count = task.joinpath("schedstat").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        waited_ns += int(waited)
        slices += int(count)
    return CpuWait(waited_ns / 1e9, slices)


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for process {pid}")


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise LookupError(f"no Threads for process {pid}")


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for servers that cannot be told port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True, kw_only=True)
class Pinning:
    """The CPUs the server under test and the load generator may run on (``bench run --pin``).

    On a small machine they otherwise share the cores, and a generator that works harder for one
    kind of client (WebSocket) takes more CPU time from the server it measures.  Pinned apart,
    neither can deschedule the other; the server then has one core only, all its threads included.
    """

    server: frozenset[int]
    loadgen: frozenset[int]

    def to_json(self) -> dict[str, Any]:
        return {"server": sorted(self.server), "loadgen": sorted(self.loadgen)}


#: ``--pin``: every server process on CPU 1, the load generator on CPU 0.
PIN_APART = Pinning(server=frozenset({1}), loadgen=frozenset({0}))


def pinned(argv: list[str], cpus: frozenset[int] | None) -> list[str]:
    """``argv`` confined to ``cpus`` (None: as it is), started through ``python -m bench._pin``.

    The mask is set before exec, so every thread the program starts inherits it (setting it
    from outside, ``sched_setaffinity(pid)``, would confine the main thread only); the process
    keeps its pid, which the generator reads the server's CPU time by.
    """
    if cpus is None:
        return argv
    return [sys.executable, "-m", "bench._pin", ",".join(map(str, sorted(cpus))), *argv]
