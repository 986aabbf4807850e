"""The chat's state: who is here, under which nickname, which rooms exist, and what may be seen.

``StateChanges`` changes it (when it applies facts); the queries (``_queries.py``)
only read it.  Counts that an answer needs often (operators, invisible
users) are kept up to date rather than counted each time, so that a
registration, which answers ``LUSERS``, costs nothing per user.
"""

from __future__ import annotations

from collections import deque

from ._modes import RoomFlag, mask_matches
from ._nicknames import nick_key
from ._replies import UserDetails, UserId
from ._rooms import LOBBY, Room, room_key
from ._users import User

#: Users remembered after they leave or change nickname, for ``WHOWAS``.
WHOWAS_SIZE = 100


class Directory:
    """Users and rooms, indexed the ways the rules look them up."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}  # by nickname key: every registered user
        self.by_id: dict[UserId, User] = {}  # every user who arrived, registered or not yet
        self.reserved: dict[str, User] = {}  # by nickname key: names held by users not registered yet
        lobby = Room(LOBBY)
        self.lobby = lobby
        self.rooms: dict[str, Room] = {lobby.key: lobby}  # by key: #lobby, then in order of creation
        self.named: dict[str, Room] = {lobby.name: lobby}  # by name as created: how words name a room
        self.operators = 0  # registered users who are server operators
        self.invisible = 0  # registered users who are invisible
        self.most_users = 0  # registered users at once, at most, since the start
        # (nickname key, details) of users gone or renamed, newest last.
        self.history: deque[tuple[str, UserDetails]] = deque(maxlen=WHOWAS_SIZE)

    # -- finding ------------------------------------------------------------------------

    def user(self, nick: str) -> User | None:
        """The registered user with nickname ``nick`` (any case)."""
        return self.users.get(nick_key(nick))

    def registered(self, uid: UserId) -> User | None:
        """The registered user with id ``uid``, if it is still there."""
        user = self.by_id.get(uid)
        return user if user is not None and user.nick else None

    def room(self, name: str) -> Room | None:
        return self.rooms.get(room_key(name))

    def add_room(self, room: Room) -> None:
        self.rooms[room.key] = room
        self.named[room.name] = room

    def remove_room(self, room: Room) -> None:
        del self.rooms[room.key]
        del self.named[room.name]

    def nick_taken(self, key: str, by: User | None = None) -> bool:
        """Whether a user other than ``by`` holds or has reserved the nickname key ``key``."""
        holder = self.users.get(key) or self.reserved.get(key)
        return holder is not None and holder is not by

    # -- what one user may see of others ---------------------------------------------------

    @staticmethod
    def sees_room(asker: User, room: Room) -> bool:
        """A secret room is seen by its members only."""
        return room in asker.rooms or not room.has(RoomFlag.SECRET)

    @staticmethod
    def sees_user(asker: User, user: User) -> bool:
        """An invisible user is seen in lists only by those who share a room with it (and itself)."""
        if not user.invisible or user is asker:
            return True
        return any(room in asker.rooms for room in user.rooms)

    def visible_members(self, asker: User, room: Room) -> tuple[User, ...]:
        """The members ``asker`` may see: all of them for a member, the visible ones for others."""
        if room in asker.rooms:
            return room.members
        return tuple(member for member in room.members if not member.invisible)

    def matching(self, asker: User, mask: str) -> list[User]:
        """Registered users whose nickname (or mask, if it has ``!`` or ``@``) matches ``mask``.

        A nickname given exactly finds its user even if invisible; a
        wildcard finds only the users ``asker`` may see.
        """
        if mask in ("", "*", "0"):
            return [user for user in self.users.values() if self.sees_user(asker, user)]
        if "*" not in mask and "?" not in mask:
            exact = self.user(mask) if "!" not in mask and "@" not in mask else None
            if exact is not None:
                return [exact]
        full = "!" in mask or "@" in mask
        return [
            user
            for user in self.users.values()
            if mask_matches(mask, user.mask if full else user.nick) and self.sees_user(asker, user)
        ]

    # -- what is shown ---------------------------------------------------------------------

    @staticmethod
    def details(user: User, now: float, room: Room | None = None) -> UserDetails:
        """What answers show of ``user`` (``room``: for a listing of that room)."""
        info = user.info
        return UserDetails(
            nick=user.nick,
            username=info.username,
            host=info.host,
            realname=info.realname,
            away=user.away,
            operator=user.is_operator,
            room=room.name if room is not None else "",
            op=room is not None and user in room.operators,
            voiced=room is not None and user in room.voiced,
            idle=max(0, int(now - user.active)) if user.active else 0,
            signon=user.signon,
            secure=info.secure,
            bot=user.bot,
        )

    def remember(self, user: User, now: float) -> None:
        """``user`` leaves its nickname (gone, or renamed): keep it for ``WHOWAS``."""
        self.history.append((user.key, self.details(user, now)))
