"""One of the link's two Redis connections: its lifecycle, its pipeline, its retry timer."""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from ._actions import Role
from ._events import Reply, RequestFailed, RequestId
from ._resp import Arg, ReplyReader, encode_command, encode_publish
from ._script import Script

#: Above this many doublings the reconnect delay is at its ceiling anyway.
_MAX_DOUBLINGS = 32
#: Bytes of lines joined into one ``PUBLISH`` at most (a longer line goes alone).  Redis queues a
#: published message whole in every subscriber's output buffer and cuts a subscriber whose buffer
#: passes its hard limit, however fast it reads: a joined message stays far below any limit an
#: operator would set, so that joining never gets a healthy node cut off.
MAX_JOINED_BYTES = 16 * 1024


class ConnState(enum.Enum):
    """Where a connection is in its life; a lost connection goes back to ``WAITING``."""

    WAITING = "waiting"  # no socket; the next attempt is due at ``due``
    CONNECTING = "connecting"  # Connect asked; the driver reports back before ``due``
    SETUP = "setup"  # connected; the set-up commands are not all answered
    READY = "ready"  # set up: carries the application's traffic
    STOPPED = "stopped"  # the link was stopped: never again


class Expect(enum.Enum):
    """What a command in the pipeline waits for, and so how its reply is handled."""

    SELECT = "SELECT"
    SETNAME = "CLIENT SETNAME"
    INFO = "INFO"
    LOAD = "SCRIPT LOAD"
    CALL = "call"  # the application's command
    SCRIPT = "EVALSHA"  # the application's script
    PUBLISH = "PUBLISH"  # the application's message: no reply is reported
    ECHO = "heartbeat PUBLISH"
    PING = "PING"
    SUBSCRIBE = "SUBSCRIBE"
    UNSUBSCRIBE = "UNSUBSCRIBE"


class Outcome:
    """The application's request and, once known, the event that answers it.

    Outcomes wait in request order and are reported from the head only, so
    replies keep that order even when one request is retried (``NOSCRIPT``).
    """

    __slots__ = ("event", "request")

    def __init__(self, request: RequestId) -> None:
        self.request = request
        self.event: Reply | RequestFailed | None = None


@dataclass(slots=True, kw_only=True)
class Pending:
    """A command written and not yet answered; the pipeline is a FIFO of these.

    Never changed once made (one entry may stand for several publishes), but
    not frozen: a frozen dataclass costs about three times as much to make,
    and one is made for every command.
    """

    expect: Expect
    sent_at: float
    setup: bool = False  # part of the connection's set-up: READY once all are answered
    subject: bytes = b""  # the channel, script digest or heartbeat number it concerns
    outcome: Outcome | None = None  # CALL, SCRIPT and its reload: whom the reply answers
    script: Script | None = None  # SCRIPT, LOAD: to load it again after NOSCRIPT
    command: bytes = b""  # SCRIPT: the encoded EVALSHA, to send again
    retried: bool = False  # SCRIPT: already sent again once


class Connection:
    """A connection's state, parser, commands awaiting replies and bytes not yet handed out."""

    __slots__ = (
        "attempts",
        "due",
        "lines",
        "lines_bytes",
        "lines_channel",
        "out",
        "pending",
        "reader",
        "role",
        "setup_left",
        "state",
    )

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = ConnState.WAITING
        self.due = 0.0
        self.attempts = 0  # failed attempts since it was last ready: the backoff's exponent
        self.reader: ReplyReader | None = None
        self.pending: deque[Pending] = deque()
        self.out: list[bytes] = []
        # The last command, while it is a PUBLISH of lines that more lines may join.
        self.lines: list[bytes] = []
        self.lines_bytes = 0
        self.lines_channel = b""
        self.setup_left = 0

    @property
    def usable(self) -> bool:
        """Connected: commands written now reach Redis after everything before them."""
        return self.state is ConnState.SETUP or self.state is ConnState.READY

    @property
    def has_output(self) -> bool:
        return bool(self.out or self.lines)

    def send(self, pending: Pending, args: tuple[Arg, ...] = (), command: bytes = b"") -> None:
        """Queue one command (``args``, or already encoded as ``command``) and what its reply answers."""
        if self.lines:
            self._close_lines()
        self.out.append(command or encode_command(args))
        self.pending.append(pending)
        if pending.setup:
            self.setup_left += 1

    def publish_line(self, pending: Pending, channel: bytes, line: bytes) -> None:
        """Queue ``line`` for ``channel``: in the last command if that is a PUBLISH of lines to it.

        Lines published one after the other to one channel, with nothing
        between them, go as one message (joined by ``\n``, which a line
        never holds): one command for Redis to run, one message for each
        subscriber to read.  ``pending`` answers a new command only.
        """
        size = len(line) + 1
        if self.lines and self.lines_channel == channel and self.lines_bytes + size <= MAX_JOINED_BYTES:
            self.lines.append(line)
            self.lines_bytes += size
            return
        if self.lines:
            self._close_lines()
        self.lines = [line]
        self.lines_bytes = size
        self.lines_channel = channel
        self.pending.append(pending)

    def _close_lines(self) -> None:
        self.out.append(encode_publish(self.lines_channel, b"\n".join(self.lines)))
        self.lines = []

    def take_output(self) -> bytes:
        if self.lines:
            self._close_lines()
        data = b"".join(self.out)
        self.out.clear()
        return data

    def reset(self, state: ConnState, reader: ReplyReader | None = None) -> deque[Pending]:
        """Start over in ``state``; return the commands that were awaiting replies."""
        pending = self.pending
        self.pending = deque()
        self.out.clear()
        self.lines = []
        self.setup_left = 0
        self.state = state
        self.reader = reader
        return pending


def reconnect_delay(attempt: int, jitter: float, low: float, high: float) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 for the first).

    The ceiling doubles from ``2 * low`` up to ``high`` and the delay is drawn
    in its upper half (``jitter`` in [0, 1)), so that nodes cut off together
    do not all come back in the same instant.  Always in ``[low, high]``.
    """
    ceiling = min(high, low * 2.0 ** (min(attempt, _MAX_DOUBLINGS) + 1))
    share = min(1.0, max(0.0, jitter))
    return min(high, max(low, ceiling * (0.5 + 0.5 * share)))
