"""Splitting a byte stream into lines, with a bound on every line.

The bound is enforced while a line is still incomplete, so an endless line
never grows the buffer past the limit and a line is accepted or refused the
same way however TCP happened to split it.
"""

from __future__ import annotations

import enum

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
    discards everything up to the next LF.  It remembers how far it has
    searched, so no byte is scanned twice for a LF.
    """

    __slots__ = ("_buf", "_discarding", "_max", "_scanned")

    def __init__(self, max_line_bytes: int) -> None:
        self._buf = bytearray()
        self._scanned = 0
        self._max = max_line_bytes
        self._discarding = False

    def feed(self, data: bytes) -> None:
        """Append received bytes; nothing is parsed until ``next_line``."""
        self._buf += data

    def next_line(self) -> bytes | Framing | None:
        """Return the next complete line, ``TOO_LONG`` once per over-long line, or None."""
        buf = self._buf
        while True:
            end = buf.find(b"\n", self._scanned)
            if end < 0:
                return self._check_incomplete()
            line = bytes(buf[:end])
            del buf[: end + 1]
            self._scanned = 0
            if self._discarding:
                self._discarding = False
                continue
            if self._too_long(line):
                return Framing.TOO_LONG
            return line

    def end_stream(self) -> None:
        """The peer sent its last byte: bytes after the last LF become one final line."""
        if self._buf:
            self._buf += b"\n"

    def _too_long(self, line: bytes | bytearray) -> bool:
        size = len(line)
        if size and line[-1] == _CR:
            size -= 1
        return size > self._max

    def _check_incomplete(self) -> Framing | None:
        buf = self._buf
        self._scanned = len(buf)
        if self._discarding:
            buf.clear()
            self._scanned = 0
            return None
        # A CR at the very end may be the one before the LF: it does not count yet.
        if self._too_long(buf):
            self._discarding = True
            buf.clear()
            self._scanned = 0
            return Framing.TOO_LONG
        return None
