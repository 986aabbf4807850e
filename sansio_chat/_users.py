"""A chat user: nickname, rooms, operator status, and where it is connected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._nicknames import nick_key
from ._replies import Identity, UserId

if TYPE_CHECKING:
    from ._rooms import Room
    from ._session import Session


class User:
    """One user of the chat.

    The chat rules never look at ``session``, the connection it uses on
    this server: only the fan-out does, to deliver to it.  A user of another
    server of a cluster has none (and is reached through that server), as
    has a user of this server whose connection ended while its departure
    crosses the cluster.  ``nick`` is empty until its first nickname is
    granted.  ``rooms`` are in the order joined.
    """

    __slots__ = ("_identity", "is_operator", "nick", "rooms", "session", "uid")

    def __init__(self, uid: UserId, session: Session | None) -> None:
        self.uid = uid  # what facts name it by: stable while it is connected, never reused
        self.session = session
        self.nick = ""
        self.rooms: tuple[Room, ...] = ()
        self.is_operator = False
        self._identity: Identity | None = None  # made when first needed: an idle user has none

    @property
    def identity(self) -> Identity:
        """Who it is as others see it now; the same object until its nickname changes."""
        identity = self._identity
        if identity is None or identity.nick is not self.nick:
            identity = self._identity = Identity(uid=self.uid, nick=self.nick)
        return identity

    @property
    def key(self) -> str:
        """The nickname as compared for uniqueness (computed: an idle user stays small)."""
        return nick_key(self.nick)

    @property
    def room(self) -> Room | None:
        """The room joined last, which text commands act in (a text user is in one room at most)."""
        rooms = self.rooms
        return rooms[-1] if rooms else None
