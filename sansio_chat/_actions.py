"""Actions: what the core asks an I/O backend to do, in order.

A backend carries out the actions of one call in the order given; that order
is the protocol's order.  ``Send`` names several connections at once so that a
broadcast is rendered once and its single ``bytes`` object is shared by every
recipient's output queue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._events import ConnId
from ._shared import ClusterAction


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Queue ``data`` for each connection in ``conns``, in that call's order.

    ``data`` may hold several lines: consecutive lines to the same recipients
    within one ``receive`` call come as one ``Send``.  A sender's broadcasts
    name the same ``conns`` tuple object until membership changes, so a
    backend may keep its lookup of a tuple's connections and reuse it when
    the same object comes back (``adapters/_table.py`` does).
    """

    conns: tuple[ConnId, ...]
    data: bytes


class CloseReason(enum.Enum):
    """Why the core closes a connection, for a transport that says so (a WebSocket close code)."""

    DONE = "done"  # the client quit, was killed, or its connection ended
    SHUTDOWN = "shutdown"  # the server is stopping: the client may come back later
    SERVER_FULL = "server full"  # refused: too many clients; try again later


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    """Flush everything queued for ``conn``, then close it; ``reason`` says why."""

    conn: ConnId
    reason: CloseReason = CloseReason.DONE


@dataclass(frozen=True, slots=True, kw_only=True)
class Abort:
    """Close ``conn`` now, discarding what is queued (a consumer too slow to keep)."""

    conn: ConnId


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseReading:
    """Stop reading from ``conn`` (flood control): TCP back-pressure slows it alone."""

    conn: ConnId


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeReading:
    """Read from ``conn`` again."""

    conn: ConnId


class LogLevel(enum.IntEnum):
    """Severity of a log line; the values are those of the stdlib ``logging``."""

    DEBUG = 10
    INFO = 20
    WARNING = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """A line for the operator's log (connects, disconnects, nick changes, kills)."""

    level: LogLevel
    message: str


Action = Send | Close | Abort | PauseReading | ResumeReading | Log | ClusterAction
