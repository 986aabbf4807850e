"""Events: what an I/O backend tells the core.

Every event names the connection it concerns by an integer id that the
backend chooses and never reuses while the server runs.  Events are frozen so
that a test can compare and hash them, and slotted because the hot path
creates one per received chunk.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._shared import ClusterEvent

ConnId = int


class DialectName(enum.Enum):
    """The wire format a listener speaks; the core picks a connection's session by it."""

    TEXT = "text"
    IRC = "irc"  # RFC 1459 / modern IRC (docs/irc.md)
    WEB = "web"  # JSON over WebSocket (docs/web.md): one message per command or event


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOpened:
    """A client connected; ``peer`` is its printable address (for logs).

    ``dialect`` is the wire format of the listener it came through, and
    ``secure`` whether its bytes crossed the network encrypted (TLS).  A
    connection is opened only once its transport is ready: after the TLS
    handshake or the WebSocket upgrade, never for a plain page fetch.
    """

    conn: ConnId
    peer: str
    dialect: DialectName = DialectName.TEXT
    secure: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReceived:
    """Bytes arrived from the client, split however TCP split them."""

    conn: ConnId
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagesReceived:
    """Whole messages of a message-framed connection (WebSocket text messages), in order, as UTF-8.

    A web client's input comes in messages, not in a byte stream: the
    transport has already joined each one's fragments and checked that it
    is UTF-8.  The core takes each as one line of its dialect, with the same
    limit (``max_line_bytes``), flood control and order.  A backend hands
    over what one read brought (as ``DataReceived`` does for a stream, so
    that a burst of messages is answered with joined sends) and stops
    while reading is paused.
    """

    conn: ConnId
    messages: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EofReceived:
    """The client closed its sending side (an orderly FIN)."""

    conn: ConnId


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionReset:
    """The connection failed (RST, send error): nothing more can be sent to it.

    ``protocol_error``: it did not just fail, the transport below the core
    closed it because the peer broke the transport's protocol (a WebSocket
    closed with 1002, 1003, 1007 or 1009).  The user was dropped for what it
    sent, as for being too slow, and the others are told so.
    """

    conn: ConnId
    protocol_error: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputBacklog:
    """After a write attempt, ``unsent`` bytes queued for ``conn`` are still held.

    Backends report it after every write attempt the kernel did not take in
    full (0 bytes taken included), at least once per loop pass for a
    connection that got new output.  The core judges the slow-consumer rule
    on it: a client holding more than ``max_pending_bytes`` is dropped, the
    same way on every backend.  What the kernel took counts as sent; what
    the backend still holds is pending.  A write taken in full needs no
    report, which keeps a fast fan-out free of per-write events.
    """

    conn: ConnId
    unsent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """The current time: the core's only clock.

    ``now`` is seconds on a monotonic clock (every deadline is on it);
    ``wall`` is seconds since the Unix epoch, for what clients are shown
    (IRC's ``server-time``, ``TIME``, when a topic was set), or 0 when the
    backend does not say.
    """

    now: float
    wall: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownRequested:
    """The operator asked the server to stop (SIGINT/SIGTERM)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NickClaimAnswered:
    """A nickname registry's late answer to claim number ``claim`` (see ``NickRegistry``).

    Only a registry that cannot answer at once (one shared by several
    servers) leads to this event; the server's own registry always answers
    at once.  Until it comes, the claimant's following lines wait.
    """

    claim: int
    granted: bool


Event = (
    ConnectionOpened
    | DataReceived
    | MessagesReceived
    | EofReceived
    | ConnectionReset
    | OutputBacklog
    | Tick
    | ShutdownRequested
    | NickClaimAnswered
    | ClusterEvent
)
