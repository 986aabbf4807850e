"""What a backend does when ``accept`` fails: one policy, with time as an argument.

Most failures concern one peer (it reset before we took it) and are ignored.
Running out of descriptors or memory is different: the listener stays
readable, so accepting again at once would spin; the backend stops accepting
for ``ACCEPT_BACKOFF_SECONDS``.  A full descriptor table repeats fast, so the
warning is logged at most once per ``WARN_EVERY_SECONDS``, with the number of
failures since the last one.
"""

from __future__ import annotations

import errno

#: Connections accepted in one go at most, so a storm of joins cannot starve the rest.
ACCEPTS_PER_PASS = 256
#: How long to stop accepting after running out of descriptors or memory.
ACCEPT_BACKOFF_SECONDS = 0.1
#: Shortest time between two warnings about failing accepts.
WARN_EVERY_SECONDS = 10.0
#: ``accept`` errors that mean "out of resources, try again shortly", not "bad peer".
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class AcceptThrottle:
    """Whether to pause accepting after a failure, until when, and whether to say so."""

    __slots__ = ("_unreported", "_warn_after", "paused_until")

    def __init__(self) -> None:
        self.paused_until: float | None = None  # accepting is paused until then
        self._unreported = 0  # out-of-resources failures since the last warning
        self._warn_after = float("-inf")

    def failed(self, exc: OSError, now: float) -> str | None:
        """Note a failed ``accept``; returns a warning to log now, or None.

        Out of resources: accepting pauses (``paused_until``).  Anything else
        concerns one peer only and changes nothing.
        """
        if exc.errno not in OUT_OF_RESOURCES:
            return None
        self.paused_until = now + ACCEPT_BACKOFF_SECONDS
        self._unreported += 1
        if now < self._warn_after:
            return None
        count, self._unreported = self._unreported, 0
        self._warn_after = now + WARN_EVERY_SECONDS
        repeated = f" ({count} times since the last warning)" if count > 1 else ""
        return f"cannot accept: {exc.strerror}; pausing accepts briefly{repeated}"

    def resume(self, now: float) -> bool:
        """True once, when a pause is over: the caller starts accepting again."""
        if self.paused_until is None or now < self.paused_until:
            return False
        self.paused_until = None
        return True
