"""Splitting a byte stream into lines, with a bound on every line.

The bound is enforced while a line is still incomplete, so an endless line
never grows the buffer past the limit and a line is accepted or refused the
same way however TCP happened to split it.
"""

from __future__ import annotations

import enum
from collections import deque

_LF = 10
_CR = 13


class Framing(enum.Enum):
    """A framing outcome other than a line."""

    TOO_LONG = "too long"


class LineBuffer:
    """A per-connection receive buffer that yields one line at a time.

    Lines come out without their LF; a CR right before the LF is kept (the
    chat dialect drops it, the relay forwards it byte for byte) but never
    counts towards ``max_line_bytes``.  After a too-long line the buffer
    discards everything up to the next LF.

    Received bytes are split into lines as they arrive, with one C-level
    ``split`` per chunk, so no byte is scanned twice; only the incomplete
    tail is kept as bytes, and it is bounded by the limit.  Complete lines
    wait in a queue until taken, which is how flood control delays them.
    """

    __slots__ = ("_discarding", "_lines", "_max", "_tail")

    def __init__(self, max_line_bytes: int) -> None:
        self._lines: deque[bytes | Framing] = deque()
        self._tail = bytearray()  # bytes after the last LF
        self._max = max_line_bytes
        self._discarding = False  # inside a too-long line: drop up to the next LF

    def feed(self, data: bytes) -> None:
        """Split received bytes into complete lines and a bounded incomplete tail."""
        if b"\n" not in data:
            if not self._discarding:
                self._tail += data
                self._check_tail()
            return
        parts = data.split(b"\n")
        tail = parts.pop()
        if self._tail:
            self._tail += parts[0]
            parts[0] = bytes(self._tail)
            self._tail.clear()
        if self._discarding:
            self._discarding = False
            del parts[0]
        lines = self._lines
        limit = self._max
        for line in parts:
            # A CR right before the LF does not count towards the limit.
            if len(line) > limit and (len(line) > limit + 1 or line[-1] != _CR):
                lines.append(Framing.TOO_LONG)
            else:
                lines.append(line)
        if tail:
            self._tail += tail
            self._check_tail()

    def next_line(self) -> bytes | Framing | None:
        """Return the next complete line, ``TOO_LONG`` once per over-long line, or None."""
        return self._lines.popleft() if self._lines else None

    def end_stream(self) -> None:
        """The peer sent its last byte: bytes after the last LF become one final line."""
        if self._tail:
            self.feed(b"\n")

    def _check_tail(self) -> None:
        """Refuse the incomplete line as soon as it passes the limit."""
        tail = self._tail
        limit = self._max
        # A CR at the very end may be the one before the LF: it does not count yet.
        if len(tail) > limit and (len(tail) > limit + 1 or tail[-1] != _CR):
            self._lines.append(Framing.TOO_LONG)
            tail.clear()
            self._discarding = True
