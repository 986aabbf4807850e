"""When to write the output queued for the clients: at once when idle, a little later when busy.

Every write to a connection is a system call, and on loopback or a LAN it
is the costliest thing a fan-out does: the kernel builds a segment and wakes
the reader for each one.  A busy server that flushes after every loop pass
writes each connection once per pass, however little the pass added.  If it
holds the flush while input keeps coming, each connection gets fewer, larger
writes; holding it when nothing more is coming would only add latency.

So the decision is about time and about work, and nothing else:

* **idle** (nothing was flushed within the last ``delay``, or this pass found
  no new work): the output goes out now, as without the policy;
* **busy** (a pass found new work, and the last flush was less than
  ``delay`` ago): the flush waits for the next pass, which polls the sockets
  without sleeping; it goes out as soon as a pass finds nothing new, and at
  the latest ``delay`` after the wait began;
* ``delay`` 0: every flush is at once, exactly as without the policy.

A waiting flush never makes the backend sleep: the driver's next deadline is
"now" while one waits, so the loop looks at its sockets again at once and
flushes as soon as they have nothing more for it.  That is why the bound
does not depend on the timer resolution of a backend's wait (epoll's is a
millisecond): the deadline is read from the clock on every pass.

Why here and not in the core: the core decides what each client is sent and
in which order, and that is unchanged (the same bytes, in the same order);
how many system calls carry them is a question of I/O, like joining a
connection's output into one ``send``.  It is a timer of the driver's, next
to the close deadlines (``_timers.py``), applied once where every backend
takes its output (``Driver.take_dirty``), so all of them, and the TLS and
WebSocket layers under them, get it the same way.  Like the other deciding
modules it is sans-IO: time is an argument.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

#: The default bound on holding a flush while busy, in seconds: off, for now.  In the runs of
#: docs/benchmarks.md (a loaded two-core machine) holding cost more CPU per delivery than it saved.
DEFAULT_FLUSH_DELAY = 0.0
#: The largest bound accepted: beyond it a chat would feel the hold.
MAX_FLUSH_DELAY = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushConfig:
    """How long a flush may be held while the server is busy (``delay``, seconds; 0: never)."""

    delay: float = DEFAULT_FLUSH_DELAY

    def __post_init__(self) -> None:
        if not (math.isfinite(self.delay) and 0.0 <= self.delay <= MAX_FLUSH_DELAY):
            raise ValueError(f"a flush delay is between 0 and {MAX_FLUSH_DELAY:g} seconds, not {self.delay}")


class FlushState(enum.Enum):
    """Whether output is being held: ``HOLDING`` from the first busy pass until the flush."""

    READY = "ready"
    HOLDING = "holding"


class FlushPolicy:
    """Decides, once per loop pass with output waiting, whether to flush now; time is an argument.

    ``due(now, fresh=...)`` is asked when output waits (``fresh``: the core
    queued new output since the last time it was asked); ``flushed(now)``
    is told when a flush is over (its writes made).  While ``state`` is
    ``HOLDING``, ``deadline`` is when the held output must go in any case.
    """

    __slots__ = ("_last_flush", "config", "deadline", "state")

    def __init__(self, config: FlushConfig) -> None:
        self.config = config
        self.state = FlushState.READY
        self.deadline: float | None = None
        self._last_flush: float | None = None  # when the last flush was over

    @property
    def enabled(self) -> bool:
        return self.config.delay > 0.0

    def due(self, now: float, *, fresh: bool) -> bool:
        """Whether the output waiting now goes out now (else it is held until a pass finds no more).

        ``fresh``: this pass found new work (the core queued output since
        the last question).  Without it the batch is complete: flush.
        """
        delay = self.config.delay
        if self.state is FlushState.HOLDING:
            assert self.deadline is not None
            return not fresh or now >= self.deadline
        last = self._last_flush
        if not fresh or delay <= 0.0 or last is None or now - last >= delay:
            return True  # idle, or nothing more is coming: at once
        self.state = FlushState.HOLDING
        self.deadline = now + delay
        return False

    def flushed(self, now: float) -> None:
        """A flush was over at ``now``: the held output (if any) is out."""
        self._last_flush = now
        self.state = FlushState.READY
        self.deadline = None
