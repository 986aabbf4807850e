"""A chat user: nickname, rooms, operator status, and where it is connected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._nicknames import nick_key

if TYPE_CHECKING:
    from ._rooms import Room
    from ._session import Session


class User:
    """One user of the chat.

    The chat rules never look at ``session``, the connection it uses on
    this server: only the fan-out does, to deliver to it.  (A user of
    another server of a cluster would have none, and be reached through
    that server.)  ``nick`` is empty until its first nickname is granted.
    ``rooms`` are in the order joined.
    """

    __slots__ = ("is_operator", "nick", "rooms", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.nick = ""
        self.rooms: tuple[Room, ...] = ()
        self.is_operator = False

    @property
    def key(self) -> str:
        """The nickname as compared for uniqueness (computed: an idle user stays small)."""
        return nick_key(self.nick)

    @property
    def room(self) -> Room | None:
        """The room joined last, which text commands act in (a text user is in one room at most)."""
        rooms = self.rooms
        return rooms[-1] if rooms else None
