"""What the server tells clients, independent of how a dialect renders it.

A reply is addressed to an audience by the chat (see ``_fanout.py``) and
rendered once per renderer present among its recipients.  Several replies
exist so that each kind of client can be told the same event in its own
way: the joiner of a room gets ``EnteredRoom`` and the others ``JoinedRoom``
(a text client reads two different lines, an IRC client the same ``JOIN``).
A renderer may render a reply as ``b""``: nothing for that kind of client
(the echo of its own words, for a text client, which never sees them again).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class LeaveReason(enum.Enum):
    """Why a user left; the dialect turns it into the notice others see."""

    LEFT = "left"  # QUIT, EOF or reset
    KILLED = "killed"
    OPER_FAILURES = "too many failed OPER attempts"
    TOO_SLOW = "too slow"


class ErrorKind(enum.Enum):
    LINE_TOO_LONG = "line too long"
    INVALID_UTF8 = "invalid UTF-8"
    CONTROL_CHARACTER = "control character"
    USAGE = "usage"
    INVALID_COMMAND = "invalid command"
    INVALID_NICK = "invalid nickname"
    NICK_IN_USE = "nickname in use"
    PERMISSION_DENIED = "permission denied"
    NO_SUCH_NICK = "no such nickname"
    KILL_SELF = "kill self"
    WRONG_PASSWORD = "wrong password"
    TOO_MANY_OPER_FAILURES = "too many failed OPER attempts"
    SERVER_FULL = "server full"
    INVALID_ROOM = "invalid room name"
    NO_SUCH_ROOM = "no such room"
    ALREADY_IN_ROOM = "already in the room"
    NOT_IN_A_ROOM = "not in a room"
    ROOM_OPERATORS_ONLY = "room operators only"
    TOPIC_TOO_LONG = "topic too long"
    NOT_IN_ROOM = "user not in the room"
    # A message its (message-framed) dialect cannot read: not in the format, a field missing or wrong.
    MALFORMED = "malformed message"
    MISSING_FIELD = "missing field"
    INVALID_FIELD = "invalid field"


@dataclass(frozen=True, slots=True, kw_only=True)
class Said:
    """A user's words to a room; ``action`` for an action (``ME``)."""

    nick: str
    room: str
    text: str
    action: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Told:
    """A private message from ``sender`` to ``recipient``."""

    sender: str
    recipient: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """To a user who just connected: its nickname, and the room it lands in."""

    nick: str
    room: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    """A user who just connected landed in ``room`` (``#lobby``)."""

    nick: str
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LastWords:
    """The text of a ``QUIT``, to those who share a room with the quitter, before it leaves."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected:
    """A user left the chat; ``text`` is its ``QUIT`` text, if any (already told as ``LastWords``)."""

    nick: str
    reason: LeaveReason
    killer: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NickChanged:
    old: str
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NickSet:
    """To the user who changed nickname (``old``: the one it had)."""

    nick: str
    old: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnteredRoom:
    """To a user who joined ``room``."""

    nick: str
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinedRoom:
    """To the other members: ``nick`` joined ``room``."""

    nick: str
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftRoom:
    nick: str
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserList:
    """The members of ``room`` in join order; ``named``: the room was named (``WHO <room>``, ``JOIN``)."""

    room: str
    nicks: tuple[str, ...]
    operators: frozenset[str] = frozenset()
    named: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomList:
    """Every room with its number of members, ``#lobby`` first, then in order of creation."""

    rooms: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicIs:
    """The topic of ``room`` (empty: it has none)."""

    room: str
    topic: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSet:
    nick: str
    room: str
    topic: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Kicked:
    """To the members of ``room``: ``victim`` was put out by ``kicker``."""

    room: str
    victim: str
    kicker: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KickedYou:
    """To the victim of a kick."""

    room: str
    victim: str
    kicker: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Goodbye:
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KilledBy:
    """To the victim of a ``KILL``, with the killer's last words (``text``, maybe empty)."""

    killer: str
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperGranted:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpText:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ShuttingDown:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """``detail`` is what the error is about (a nickname, a word, a limit); ``room``, the room named."""

    kind: ErrorKind
    detail: str = ""
    room: str = ""


Reply = (
    Said
    | Told
    | Welcome
    | Connected
    | LastWords
    | Disconnected
    | NickChanged
    | NickSet
    | EnteredRoom
    | JoinedRoom
    | LeftRoom
    | UserList
    | RoomList
    | TopicIs
    | TopicSet
    | Kicked
    | KickedYou
    | Goodbye
    | KilledBy
    | OperGranted
    | Pong
    | HelpText
    | ShuttingDown
    | Error
)


class Renderer(Protocol):
    """How one kind of client reads replies: a dialect, or a dialect with some capabilities.

    A delivery is rendered once per renderer present among its recipients
    and the bytes are shared, so clients are grouped by renderer object.
    """

    def render(self, reply: Reply) -> bytes:
        """The bytes to send for ``reply``, terminators included; ``b""`` for nothing."""
        ...

    def render_echo(self, reply: Said | Told) -> bytes:
        """The sender's own copy of what it said or told; ``b""`` for a client that does not want it."""
        ...
