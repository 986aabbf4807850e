"""When to write the output queued for the clients: at once when idle, at a steady pace when busy.

Every write to a connection is a system call, and on loopback or a LAN it
is the costliest thing a fan-out does: the kernel builds a segment and wakes
the reader for each one.  A busy server that flushes after every loop pass
writes each connection once per pass, however little the pass added: at a
hundred messages a second to a room of a hundred, that is ten thousand
writes of one line each.  Waiting a moment lets the lines of several
messages go in one write per connection; waiting when nothing else is
coming would only add latency.

So the decision is about time and about work, and nothing else:

* **at once** when the server is idle (no flush for ``delay``), when few
  connections wait for output (fewer than ``many``: a small flush is cheap,
  and a small room's latency is worth more), or when ``delay`` is 0;
* **held** otherwise (a busy server, many connections waiting): the flush
  waits until ``delay`` after the previous one, and the backend sleeps until
  then or until more input comes; what that input produces joins the held
  output.  A busy server thus flushes at most once per ``delay``, each
  connection getting the lines of that whole interval in one write.

The bound is exact: a line is never held for ``delay`` or more.  Output
that waits was queued after the previous flush, and the flush is due at
``previous + delay - TIMER_RESOLUTION``, because every backend's timed wait
(epoll, directly or under asyncio and uvloop) counts whole milliseconds and
may end up to one later than asked.  So a ``delay`` of a millisecond or
less never holds anything.

An earlier version of this policy held only while each pass found more
work, polling instead of sleeping, so that its bound would not depend on
the timer resolution.  On a machine where the load generator had a core of
its own the next message was almost never there yet when the pass polled,
so it hardly ever held, and the polls cost more than they saved
(docs/benchmarks.md, "Flush delay").

Why here and not in the core: the core decides what each client is sent and
in which order, and that is unchanged (the same bytes, in the same order);
how many system calls carry them is a question of I/O, like joining a
connection's output into one ``send``.  It is a timer of the driver's, next
to the close deadlines (``_timers.py``), applied once where every backend
takes its output (``Driver.flush_now``), so all of them, and the TLS and
WebSocket layers under them, get it the same way.  Like the other deciding
modules it is sans-IO: time is an argument.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

#: The default bound on holding a busy server's flush, in seconds: off for now (see the benchmarks).
DEFAULT_FLUSH_DELAY = 0.0
#: The largest bound accepted: beyond it a chat would feel the hold.
MAX_FLUSH_DELAY = 0.1
#: How late a backend's timed wait may end: epoll's timeouts are whole milliseconds, rounded up.
TIMER_RESOLUTION = 0.001
#: Connections waiting for output from which a busy server's flush is held.  Below it a flush is a
#: few writes, cheap enough to make at once; a class of thirty in one room is served at once.
MANY_WAITING = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushConfig:
    """How long a busy server's flush may be held (``delay``, seconds; 0: never), and from how
    many connections waiting for output (``many``)."""

    delay: float = DEFAULT_FLUSH_DELAY
    many: int = MANY_WAITING

    def __post_init__(self) -> None:
        if not (math.isfinite(self.delay) and 0.0 <= self.delay <= MAX_FLUSH_DELAY):
            raise ValueError(f"a flush delay is between 0 and {MAX_FLUSH_DELAY:g} seconds, not {self.delay}")
        if self.many < 1:
            raise ValueError(f"a flush is held from at least 1 waiting connection, not {self.many}")


class FlushState(enum.Enum):
    """Whether output is being held: ``HOLDING`` from the first pass that held it until the flush."""

    READY = "ready"
    HOLDING = "holding"


class FlushPolicy:
    """Decides, once per loop pass with output waiting, whether to flush now; time is an argument.

    ``due(now, waiting=...)`` is asked when output waits (``waiting``: how
    many connections have some); ``flushed(now)`` is told when a flush is
    over (its writes made).  While ``state`` is ``HOLDING``, ``deadline``
    is when the held output goes: the backend's next wake-up at the latest.
    """

    __slots__ = ("_last_flush", "config", "deadline", "state")

    def __init__(self, config: FlushConfig) -> None:
        self.config = config
        self.state = FlushState.READY
        self.deadline: float | None = None
        self._last_flush: float | None = None  # when the last flush was over

    @property
    def enabled(self) -> bool:
        return self.config.delay > TIMER_RESOLUTION

    def due(self, now: float, *, waiting: int) -> bool:
        """Whether the output waiting now goes out now (else it is held until ``deadline``)."""
        if self.state is FlushState.HOLDING:
            assert self.deadline is not None
            return now >= self.deadline
        last = self._last_flush
        if last is None or waiting < self.config.many:
            return True
        deadline = last + self.config.delay - TIMER_RESOLUTION
        if now >= deadline:
            return True  # idle for a while (or off): at once
        self.state = FlushState.HOLDING
        self.deadline = deadline
        return False

    def flushed(self, now: float) -> None:
        """A flush was over at ``now``: the held output (if any) is out."""
        self._last_flush = now
        self.state = FlushState.READY
        self.deadline = None
