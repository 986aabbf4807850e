"""What every backend keeps about one connection; a backend subclasses it with its socket or transport."""

from __future__ import annotations

from sansio_chat import ConnId

from ._lifecycle import Lifecycle
from ._listeners import ListenerKind

#: Bytes asked of the kernel per read.
RECV_SIZE = 64 * 1024


#: The ``pending`` of a connection with nothing pending: no list per idle connection.
NOTHING_PENDING: tuple[bytes, ...] = ()


class Connection:
    """One connection as the driver sees it: its id, its kind, its output since the last flush, its life.

    ``pending`` is what the core queued since the last flush, oldest first:
    a list while there is any, ``NOTHING_PENDING`` otherwise (ten thousand
    idle connections hold no list).  It is non-empty exactly while the
    connection is on the driver's dirty list, so queueing costs one append
    (or one small list) per recipient and one test.  A flush takes it with
    ``take_output``: that is the one place where the bytes the core produced
    become the bytes for the socket, and so where a per-connection transport
    stack (TLS, WebSocket) goes, encrypting or framing a whole flush at once.
    """

    __slots__ = ("id", "kind", "life", "pending")

    def __init__(self, conn_id: ConnId, kind: ListenerKind) -> None:
        self.id = conn_id
        self.kind = kind  # the listener it came through
        self.pending: list[bytes] | tuple[bytes, ...] = NOTHING_PENDING
        self.life = Lifecycle()

    def take_output(self) -> bytes:
        """Everything queued since the last flush, as the bytes to write (one join, or none)."""
        pending = self.pending
        self.pending = NOTHING_PENDING
        return pending[0] if len(pending) == 1 else b"".join(pending)
