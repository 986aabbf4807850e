"""What the chat needs of the server running it: where replies go, and its users' connections.

The chat never sees bytes or connections.  These two protocols are the
whole of what it asks of the server; ``FanOut`` (``_fanout.py``) and the
server's sessions (``_server.py``) provide them.
"""

from __future__ import annotations

from typing import Protocol

from ._replies import Rank, Reply, Said, Told
from ._rooms import Room
from ._users import User


class Deliveries(Protocol):
    """Where the chat sends replies, by audience, and tells of membership changes.

    A user without a connection here (of another server of a cluster, or
    one whose connection ended while its departure crosses the cluster) is
    passed by: only users connected here receive anything.
    """

    def entered(self, room: Room, user: User) -> None: ...
    def left(self, room: Room, user: User) -> None: ...
    def detach(self, user: User) -> None: ...
    def to_user(self, user: User, reply: Reply) -> None: ...
    def echo(self, user: User, reply: Said | Told) -> None: ...
    def to_room(self, room: Room, reply: Reply, but: User | None = None) -> None: ...
    def to_ranked(self, room: Room, rank: Rank, reply: Reply, but: User | None = None) -> None: ...
    def to_rooms(
        self, rooms: tuple[Room, ...], reply: Reply, but: User | None = None, also: User | None = None
    ) -> None: ...
    def to_everyone(self, reply: Reply) -> None: ...


class Connections(Protocol):
    """What the chat needs of the server about its users' connections."""

    def registered(self, user: User) -> None:
        """``user`` got its first nickname: it is in the chat."""
        ...

    def reserved(self, user: User, nick: str) -> None:
        """``user``, not registered yet, holds ``nick`` now (an IRC client's ``NICK``); "": none any more."""
        ...

    def claim_pending(self, user: User) -> None:
        """Something of ``user``'s waits (a claim, a shared fact): its next lines must wait too."""
        ...

    def claim_settled(self, user: User) -> None:
        """Nothing of ``user``'s waits any more: its lines may go on (it may leave meanwhile)."""
        ...

    def close(self, user: User) -> None:
        """Close ``user``'s connection here, if it has one, once what is queued for it is sent."""
        ...
