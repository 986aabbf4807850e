"""Rooms: what makes a room name valid, and what a room holds.

A room is chat-level state only: its members (users, in the order they
joined), its operators and voiced members, its topic (with who set it and
when), its modes (flags, key, limit, bans) and the users invited to it.
Who of its members is connected here, and how to reach them, is the
fan-out's business (``_fanout.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._modes import NEW_ROOM_FLAGS, Ban, RoomFlag
from ._replies import Rank, UserId

if TYPE_CHECKING:
    from ._users import User

#: The room every text client lands in; it always exists.
LOBBY = "#lobby"
#: Characters after the ``#``, at most.
MAX_ROOM_NAME_CHARS = 32
#: Characters of a topic, at most.
MAX_TOPIC_CHARS = 300
#: Characters of a kick's reason, at most (longer ones are cut; IRC's ISUPPORT ``KICKLEN``).
MAX_KICK_REASON_CHARS = 300
#: Invitations a room remembers (the oldest is forgotten first).
MAX_INVITES = 100


def is_valid_room_name(name: str) -> bool:
    """``#`` then 1 to 32 letters (Unicode letters allowed), digits, ``_`` or ``-``, in any order."""
    if name[:1] != "#" or not 1 <= len(name) - 1 <= MAX_ROOM_NAME_CHARS:
        return False
    return all(ch.isalpha() or ch.isdecimal() or ch in "_-" for ch in name[1:])


def room_key(name: str) -> str:
    """The form under which room names are compared (full case folding: ``#Straße`` is ``#STRASSE``)."""
    return name.casefold()


class Room:
    """One room: its name as created, members in join order, operators, voiced members, topic, modes.

    ``alone`` is the one-room tuple ``(room,)``, shared by every user whose
    only room this is (most users), so that a user's room list costs nothing.
    Times (``created``, ``topic_at``, a ban's) are wall-clock seconds.
    """

    __slots__ = (
        "alone",
        "bans",
        "created",
        "flags",
        "invited",
        "key",
        "limit",
        "members",
        "name",
        "operators",
        "passkey",
        "speech_limited",
        "topic",
        "topic_at",
        "topic_by",
        "voiced",
    )

    def __init__(self, name: str, created: float = 0.0) -> None:
        self.name = name
        self.key = room_key(name)
        self.members: tuple[User, ...] = ()
        self.operators: set[User] = set()
        self.voiced: set[User] = set()
        self.topic = ""
        self.topic_by = ""  # the nickname of who set it
        self.topic_at = 0.0
        self.created = created
        self.flags = NEW_ROOM_FLAGS
        self.passkey = ""  # the key to join it ("" for none)
        self.limit = 0  # members at most (0 for no limit)
        self.bans: list[Ban] = []
        self.invited: dict[UserId, None] = {}  # oldest first
        # Moderated, or someone banned: the hot path checks this one attribute.
        self.speech_limited = False
        self.alone: tuple[Room, ...] = (self,)

    def add(self, user: User) -> None:
        """A new member, last in join order; an invitation it had is used up."""
        self.members = (*self.members, user)
        if self.invited:
            self.invited.pop(user.uid, None)

    def remove(self, user: User) -> None:
        """A member leaves; it is no longer an operator nor voiced here (status is not kept across visits)."""
        members = self.members
        at = members.index(user)
        self.members = members[:at] + members[at + 1 :]
        self.operators.discard(user)
        self.voiced.discard(user)

    def ranked(self, rank: Rank) -> set[User]:
        """The members of at least ``rank``: who words for that rank reach."""
        if rank is Rank.OPERATOR:
            return self.operators
        return self.operators | self.voiced

    def invite(self, uid: UserId) -> None:
        """Remember an invitation, forgetting the oldest one past ``MAX_INVITES``."""
        self.invited[uid] = None
        if len(self.invited) > MAX_INVITES:
            del self.invited[next(iter(self.invited))]

    def has(self, flag: RoomFlag) -> bool:
        return bool(self.flags & flag)

    def settings_changed(self) -> None:
        """Its flags or bans changed: recompute what the hot path checks."""
        self.speech_limited = self.has(RoomFlag.MODERATED) or bool(self.bans)
