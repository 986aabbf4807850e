"""Rooms: what makes a room name valid, and what a room holds.

A room is chat-level state only: its members (users, in the order they
joined), its operators and its topic.  Who of its members is connected here,
and how to reach them, is the fan-out's business (``_fanout.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._users import User

#: The room every text client lands in; it always exists.
LOBBY = "#lobby"
#: Characters after the ``#``, at most.
MAX_ROOM_NAME_CHARS = 32
#: Characters of a topic, at most.
MAX_TOPIC_CHARS = 300


def is_valid_room_name(name: str) -> bool:
    """``#`` then 1 to 32 letters (Unicode letters allowed), digits, ``_`` or ``-``, in any order."""
    if name[:1] != "#" or not 1 <= len(name) - 1 <= MAX_ROOM_NAME_CHARS:
        return False
    return all(ch.isalpha() or ch.isdecimal() or ch in "_-" for ch in name[1:])


def room_key(name: str) -> str:
    """The form under which room names are compared (full case folding: ``#Straße`` is ``#STRASSE``)."""
    return name.casefold()


class Room:
    """One room: its name as created, members in join order, operators, topic.

    ``alone`` is the one-room tuple ``(room,)``, shared by every user whose
    only room this is (most users), so that a user's room list costs nothing.
    """

    __slots__ = ("alone", "key", "members", "name", "operators", "topic")

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = room_key(name)
        self.members: tuple[User, ...] = ()
        self.operators: set[User] = set()
        self.topic = ""
        self.alone: tuple[Room, ...] = (self,)

    def add(self, user: User) -> None:
        """A new member, last in join order."""
        self.members = (*self.members, user)

    def remove(self, user: User) -> None:
        """A member leaves; it is no longer an operator here (status is not kept across visits)."""
        members = self.members
        at = members.index(user)
        self.members = members[:at] + members[at + 1 :]
        self.operators.discard(user)
