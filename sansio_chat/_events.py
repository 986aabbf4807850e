"""Events: what an I/O backend tells the core.

Every event names the connection it concerns by an integer id that the
backend chooses and never reuses while the server runs.  Events are frozen so
that a test can compare and hash them, and slotted because the hot path
creates one per received chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

ConnId = int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOpened:
    """A client connected; ``peer`` is its printable address (for logs)."""

    conn: ConnId
    peer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReceived:
    """Bytes arrived from the client, split however TCP split them."""

    conn: ConnId
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EofReceived:
    """The client closed its sending side (an orderly FIN)."""

    conn: ConnId


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionReset:
    """The connection failed (RST, send error): nothing more can be sent to it."""

    conn: ConnId


@dataclass(frozen=True, slots=True, kw_only=True)
class BytesFlushed:
    """The backend tried to write to ``conn``; the kernel accepted ``count`` bytes.

    Backends report every write attempt, ``count=0`` included (the kernel's
    buffer was full).  The core counts queued minus flushed bytes per
    connection and, after each attempt, drops a client that still has more
    than ``max_pending_bytes`` unsent: the slow-consumer rule, enforced the
    same way on every backend.
    """

    conn: ConnId
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """The current time, in seconds on a monotonic clock: the core's only clock."""

    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownRequested:
    """The operator asked the server to stop (SIGINT/SIGTERM)."""


Event = (
    ConnectionOpened | DataReceived | EofReceived | ConnectionReset | BytesFlushed | Tick | ShutdownRequested
)
