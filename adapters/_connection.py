"""What every backend keeps about one connection; a backend subclasses it with its socket or transport."""

from __future__ import annotations

from sansio_chat import ConnId

from ._lifecycle import Lifecycle
from ._listeners import ListenerKind

#: Bytes asked of the kernel per read.
RECV_SIZE = 64 * 1024


class Connection:
    """One connection as the driver sees it: its id, its kind, its output since the last flush, its life.

    ``pending`` is what the core queued since the last flush, oldest first;
    it is non-empty exactly while the connection is on the driver's dirty
    list, so queueing costs one list append per recipient and one test.  A
    flush takes it with ``take_output``: that is the one place where the bytes
    the core produced become the bytes for the socket, and so where a
    per-connection transport stack (TLS, WebSocket) goes, encrypting or
    framing a whole flush at once.
    """

    __slots__ = ("id", "kind", "life", "peer", "pending")

    def __init__(self, conn_id: ConnId, kind: ListenerKind) -> None:
        self.id = conn_id
        self.kind = kind  # the listener it came through
        self.peer = ""  # its address, for logs, once accepted
        self.pending: list[bytes] = []
        self.life = Lifecycle()

    def take_output(self) -> bytes:
        """Everything queued since the last flush, as the bytes to write (one join, or none)."""
        pending = self.pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        return data
