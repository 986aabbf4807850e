"""What every backend keeps about one connection; a backend subclasses it with its socket or transport."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sansio_chat import ConnId

from ._lifecycle import Lifecycle
from ._listeners import ListenerKind
from ._table import Route

if TYPE_CHECKING:
    from ._layers import Layers

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
    ``take_output``.

    A connection of a listener with transport layers (TLS, HTTP, WebSocket)
    also has ``layers`` (the driver's, ``_layers.py``), and starts
    ``PENDING``.  Its ``route`` says how the core's bytes become its bytes:
    as they are, as WebSocket frames (built once per ``Send`` by the driver),
    or through its TLS, once per flush (the driver does that too, in
    ``take_dirty``).  Either way what a backend writes is ``pending`` joined.
    """

    __slots__ = ("id", "kind", "layers", "life", "pending", "route")

    def __init__(self, conn_id: ConnId, kind: ListenerKind) -> None:
        self.id = conn_id
        self.kind = kind  # the listener it came through
        self.pending: list[bytes] | tuple[bytes, ...] = NOTHING_PENDING
        self.life = Lifecycle(pending=kind.layered)
        self.layers: Layers | None = None  # the driver sets them up when the connection is opened
        self.route = Route.SEALED if kind.secure else Route.FRAMED if kind.web else Route.PLAIN

    def take_output(self) -> bytes:
        """Everything queued since the last flush, as the bytes to write (one join, or none)."""
        pending = self.pending
        self.pending = NOTHING_PENDING
        return pending[0] if len(pending) == 1 else b"".join(pending)
