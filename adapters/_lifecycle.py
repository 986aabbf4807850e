"""How a connection ends, and how the server does, as sans-IO state machines.

Closing a TCP connection without losing the last lines takes several steps,
and every backend must take them the same way: when the core says ``Close``,
what is queued still goes out; then our FIN (a half-close); then the socket is
read and the bytes discarded until the peer's FIN, because closing a socket
that has unread input makes Linux send a reset, which can destroy the last
lines still in flight to the client.  Each step has a deadline, so that a
client that never reads nor closes cannot hold the connection forever.

A connection whose listener has transport layers (TLS, HTTP, WebSocket)
starts one step earlier: ``PENDING``, read by the layers alone (handshakes,
page requests) until they say it is ready for the core; a page fetch may
end there without the core ever hearing of it.

``Lifecycle`` decides all of that for one connection, and ``Stop`` decides the
server's own end (a bounded drain after the first SIGINT/SIGTERM, cut short by
a second one).  Neither reads a clock nor touches a socket: the caller passes
the time in and carries out the ``Step`` it is given, as the websockets
library's sans-I/O protocol tells its caller when to half-close.
"""

from __future__ import annotations

import enum

#: How long a connection the core has closed may take to take its last bytes;
#: after that it is dropped, so a client that never reads cannot hold it forever.
CLOSE_FLUSH_SECONDS = 10.0
#: After the last byte is flushed and our FIN sent, how long a closing connection is
#: still read (and the bytes discarded) so that its unread input cannot turn the
#: close into a reset that destroys the last lines in flight to the client.
LINGER_SECONDS = 2.0
#: How long shutdown waits for clients to take their last bytes before closing anyway.
SHUTDOWN_FLUSH_SECONDS = 5.0


class Phase(enum.Enum):
    """Where a connection is in its life."""

    PENDING = "pending"  # its transport layers are not done yet (handshakes, page requests): no core
    OPEN = "open"  # the core knows it: its input goes to the core, its output to the peer
    CLOSING = "closing"  # the core closed it: what is queued still goes out; input is discarded
    LINGERING = "lingering"  # flushed and our FIN sent: input is discarded until the peer's FIN
    CLOSED = "closed"  # nothing more is read or written: the socket is closed, or being closed


class Step(enum.Enum):
    """What the caller must do now."""

    NOTHING = "nothing"
    SEND_FIN = "send_fin"  # half-close (shutdown(SHUT_WR)), then go on reading and discarding
    CLOSE = "close"  # everything went out: close the socket
    DROP = "drop"  # give up: close the socket now, discarding whatever is left


class Lifecycle:
    """One connection's phase, its read interest and its deadline.

    The caller reports what happened (the core closed it, the output is
    flushed, the peer sent its FIN, the time) and gets back the ``Step`` to
    carry out.  ``reading`` says whether the socket should be read now, and
    ``deadline`` when ``expire`` must next be called (None: never).
    """

    __slots__ = ("deadline", "paused", "peer_eof", "phase")

    def __init__(self, *, pending: bool = False) -> None:
        self.phase = Phase.PENDING if pending else Phase.OPEN
        # Its input waits: flood control (open), or its answers wait to be read (pending).
        self.paused = False
        self.peer_eof = False  # the peer sent its FIN: there is nothing more to read
        self.deadline: float | None = None

    def __repr__(self) -> str:
        flags = "".join(
            f", {name}" for name, on in (("paused", self.paused), ("peer_eof", self.peer_eof)) if on
        )
        return f"<Lifecycle {self.phase.value}{flags}, deadline {self.deadline}>"

    @property
    def open(self) -> bool:
        """Whether the core knows the connection: its input and its failures are the core's business."""
        return self.phase is Phase.OPEN

    @property
    def closed(self) -> bool:
        """Whether nothing more is read or written (asked afresh after any call that may close it)."""
        return self.phase is Phase.CLOSED

    @property
    def reading(self) -> bool:
        """Whether the socket should be read now.

        An open connection is read unless flood control paused it; a closing
        one is read (and the bytes discarded) until the peer's FIN.  Nothing is
        read after the peer's FIN: there is nothing more to come, and a read
        would only report the FIN again.
        """
        if self.peer_eof or self.phase is Phase.CLOSED:
            return False
        return not self.paused

    def pause(self, paused: bool) -> bool:
        """Pause (or resume) reading an open or pending connection; True if ``reading`` may have changed.

        An open one is paused by flood control; a pending one while the
        answers its layers gave (pages) wait for the peer to read them.
        """
        if (self.phase is not Phase.OPEN and self.phase is not Phase.PENDING) or self.paused is paused:
            return False
        self.paused = paused
        return True

    def opened(self) -> bool:
        """Its layers are ready: the core knows it from now on; True if it was paused (it is not now)."""
        was_paused = self.paused
        if self.phase is Phase.PENDING:
            self.phase = Phase.OPEN
            self.paused = False
        return was_paused

    def close(self, now: float) -> None:
        """The core (or, before it knew it, the layers) closed it: flush what is queued, within a bound."""
        if self.phase is Phase.OPEN or self.phase is Phase.PENDING:
            self.phase = Phase.CLOSING
            self.paused = False
            self.deadline = now + CLOSE_FLUSH_SECONDS

    def flushed(self, now: float) -> Step:
        """Everything queued for the connection, a transport's own last bytes included, is out."""
        if self.phase is not Phase.CLOSING:
            return Step.NOTHING
        if self.peer_eof:  # nothing more can arrive, so closing cannot cause a reset
            return self._closed(Step.CLOSE)
        self.phase = Phase.LINGERING
        self.deadline = now + LINGER_SECONDS
        return Step.SEND_FIN

    def eof_received(self) -> Step:
        """The peer sent its FIN."""
        self.peer_eof = True
        if self.phase is Phase.LINGERING:  # it has read our FIN: done
            return self._closed(Step.CLOSE)
        return Step.NOTHING

    def abort(self) -> bool:
        """Closed at once (aborted, failed); True if the connection was open until now."""
        was_open = self.phase is Phase.OPEN
        self._closed(Step.DROP)
        return was_open

    def expire(self, now: float) -> Step:
        """The time is ``now``: a connection past its deadline is closed (flushed) or dropped (not)."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return Step.NOTHING
        if self.phase is Phase.CLOSING:  # it would not take its last bytes in time
            return self._closed(Step.DROP)
        return self._closed(Step.CLOSE)  # lingered long enough without the peer's FIN

    def _closed(self, step: Step) -> Step:
        self.phase = Phase.CLOSED
        self.paused = False
        self.deadline = None
        return step


class StopPhase(enum.Enum):
    """Where the server is in its life."""

    SERVING = "serving"
    DRAINING = "draining"  # first signal: no new connections, everyone told, closes flushing
    ENDING = "ending"  # the drain is over (done, out of time, or a second signal): close what is left


class Stop:
    """SIGINT/SIGTERM as the server sees them.

    The first signal starts a drain bounded by ``SHUTDOWN_FLUSH_SECONDS``; a
    second one, or the bound, ends it, and whatever is still open is closed
    at once.  ``signal`` only counts, so that it is safe to call from a signal
    handler.
    """

    __slots__ = ("_deadline", "_signals")

    def __init__(self) -> None:
        self._signals = 0
        self._deadline: float | None = None

    def signal(self) -> None:
        """A stop signal arrived (or a stop was asked for some other way)."""
        self._signals += 1

    @property
    def requested(self) -> bool:
        return self._signals > 0

    @property
    def cut_short(self) -> bool:
        """Whether a second signal came: the drain ends now."""
        return self._signals > 1

    def drain(self, now: float) -> float:
        """Start draining (the caller has told the core); returns the drain's deadline."""
        if self._deadline is None:
            self._deadline = now + SHUTDOWN_FLUSH_SECONDS
        return self._deadline

    def phase(self, now: float) -> StopPhase:
        if self._deadline is None:
            return StopPhase.SERVING
        if self.cut_short or now >= self._deadline:
            return StopPhase.ENDING
        return StopPhase.DRAINING
