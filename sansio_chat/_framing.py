"""Splitting a byte stream into lines, lazily, with a bound on every line; or taking whole messages.

Received bytes are kept as they came, in one buffer, and a line is cut out
only when it is asked for.  A client held back by flood control therefore
costs about the bytes it sent, not a list of line objects (a 64 KiB read of
3-byte lines would be some 20,000 of them).  The buffer remembers how far it
has searched for the next LF, so no byte is scanned twice.

The bound is enforced on a line still incomplete as well as on a complete
one, so an endless line never grows the buffer past the limit once it is
looked at, and a line is accepted or refused the same way however TCP
happened to split it.
"""

from __future__ import annotations

import enum
from collections import deque

_CR = 13


class Framing(enum.Enum):
    """A framing outcome other than a line."""

    TOO_LONG = "too long"


class LineBuffer:
    """A per-connection receive buffer that yields one line at a time.

    Lines come out without their LF; a CR right before the LF is kept (the
    chat dialect drops it, the relay forwards it byte for byte) but never
    counts towards ``max_line_bytes``.  A line over the limit comes out as
    ``Framing.TOO_LONG``, once, as soon as it is seen to pass the limit; the
    rest of it, up to the next LF, is then discarded as it arrives.

    The unread bytes are ``_data[_start:]``.  A chunk that arrives while
    nothing is unread is kept as the very ``bytes`` object received (no
    copy); otherwise the unread rest and the chunk are joined once.
    """

    __slots__ = ("_data", "_discarding", "_max", "_searched", "_start")

    def __init__(self, max_line_bytes: int) -> None:
        self._data = b""
        self._start = 0  # first unread byte
        self._searched = 0  # no LF in _data[_start:_searched]
        self._max = max_line_bytes
        self._discarding = False  # inside a too-long line: drop up to the next LF

    def __len__(self) -> int:
        """Bytes received and not yet taken as lines."""
        return len(self._data) - self._start

    def feed(self, data: bytes) -> None:
        """Keep received bytes for ``next_line``; nothing is split here."""
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return
            self._discarding = False
            data = data[end + 1 :]
        start = self._start
        if start == len(self._data):
            self._data = data
            self._start = self._searched = 0
        else:
            self._data = self._data[start:] + data
            self._searched -= start
            self._start = 0

    def next_line(self) -> bytes | Framing | None:
        """The next complete line, ``TOO_LONG`` once per over-long line, or None for now."""
        data, start = self._data, self._start
        end = data.find(b"\n", self._searched)
        if end < 0:
            size = len(data) - start
            # A CR at the very end may be the one before the LF: it does not count yet.
            if size > self._max and (size > self._max + 1 or data[-1] != _CR):
                self.clear()
                self._discarding = True
                return Framing.TOO_LONG
            self._searched = len(data)
            if start:  # keep only the incomplete line (at most the limit), not the whole read
                self._data = data[start:]
                self._searched -= start
                self._start = 0
            return None
        self._start = self._searched = end + 1
        size = end - start
        if size > self._max and (size > self._max + 1 or data[end - 1] != _CR):
            return Framing.TOO_LONG
        return data[start:end]

    def end_stream(self) -> None:
        """The peer sent its last byte: bytes after the last LF become one final line."""
        if len(self):
            self.feed(b"\n")

    def clear(self) -> None:
        """Forget every unread byte (the peer is gone, or the line is refused)."""
        self._data = b""
        self._start = self._searched = 0


class MessageBuffer:
    """The input of a message-framed connection (a WebSocket): whole messages, each one line.

    The face of ``LineBuffer`` that the input uses, so that flood control and the input
    gate treat both alike.  The transport has framed the messages already,
    so nothing is split or searched: a message over ``max_line_bytes``
    comes out as ``Framing.TOO_LONG`` in its turn, and stream bytes have no
    place here (``feed`` ignores them).  The backend hands over what one read
    brought and stops while reading is paused, so the queue holds one read's
    messages at most, as a ``LineBuffer`` holds one read's lines.
    """

    __slots__ = ("_max", "_messages")

    def __init__(self, max_line_bytes: int) -> None:
        self._messages: deque[bytes] = deque()
        self._max = max_line_bytes

    def feed(self, data: bytes) -> None:
        """Stream bytes: a message-framed connection has none (a backend's mistake, ignored)."""

    def add(self, messages: tuple[bytes, ...]) -> None:
        """Whole messages, in order."""
        self._messages.extend(messages)

    def next_line(self) -> bytes | Framing | None:
        """The next message, ``TOO_LONG`` for one over the limit, or None for now."""
        if not self._messages:
            return None
        message = self._messages.popleft()
        return Framing.TOO_LONG if len(message) > self._max else message

    def end_stream(self) -> None:
        """The peer sent its last message: a message is never partial, so nothing to do."""
