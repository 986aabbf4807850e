"""The backends' own timers, with time as an argument: close deadlines and idle memory trimming.

A backend sleeps until the earliest of the core's ``next_wakeup``, the
deadlines here, and nothing else; the driver (``_driver.py``) asks these
objects for their next time and calls them when it has come.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

#: Seconds without work, after some, before freed memory is handed back to the OS.
TRIM_AFTER_IDLE_SECONDS = 0.25

T = TypeVar("T")


class Deadlines(Generic[T]):
    """Items due at a time, earliest first: a heap, so that many closing connections cost O(log n).

    An item may be pushed again with a new time and the old entry is not
    removed: whoever pops an item checks whether it is really due (a
    connection's ``Lifecycle.expire`` does), so a stale entry costs one early
    wake-up at most.
    """

    __slots__ = ("_heap", "_order")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()  # ties are popped in push order; items need no ordering

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, when: float, item: T) -> None:
        heapq.heappush(self._heap, (when, next(self._order), item))

    @property
    def next_at(self) -> float | None:
        """The earliest time pushed and not yet popped, or None."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[T]:
        """Every item pushed for ``now`` or earlier, earliest first."""
        heap = self._heap
        due = []
        while heap and heap[0][0] <= now:
            due.append(heapq.heappop(heap)[2])
        return due


class IdleTrim:
    """When to hand memory freed after a burst back to the OS: once idle for a moment after work.

    glibc keeps freed heap memory for reuse; after a burst of joins each
    client's output briefly held hundreds of notices, and without a trim that
    high-water mark would stay in the server's RSS for good.  Trimming on
    every pass would cost a system call per pass under load, so it waits for
    ``TRIM_AFTER_IDLE_SECONDS`` without work.
    """

    __slots__ = ("_last_work",)

    def __init__(self) -> None:
        self._last_work: float | None = None  # None: nothing done since the last trim

    def worked(self, now: float) -> None:
        self._last_work = now

    @property
    def due_at(self) -> float | None:
        last = self._last_work
        return None if last is None else last + TRIM_AFTER_IDLE_SECONDS

    def due(self, now: float) -> bool:
        """Whether to trim now; a trim is then due again only after more work."""
        last = self._last_work
        if last is None or now < last + TRIM_AFTER_IDLE_SECONDS:
            return False
        self._last_work = None
        return True
