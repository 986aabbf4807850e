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
    SERVER_DOWN = "server down"  # its server (of a cluster) stopped or died


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
    CLUSTER_UNAVAILABLE = "cluster unavailable"  # a nickname change needs the other servers


#: A user's identifier, stable for as long as it is connected (its connection id on this server).
UserId = int


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who a user is, as others see it at one moment: what a fact or a reply names a user by.

    ``uid`` is what the chat finds the user by (a nickname may change);
    the rest is for showing it.  A user keeps its current identity and
    makes a new one when its nickname changes, so that the words it says
    all carry the same object.
    """

    uid: UserId
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Said:
    """A user's words to a room; ``action`` for an action (``ME``).

    Also the fact of saying them (``Chat.apply``): the hot path makes this
    one object per message, so it names the sender by its identity and
    the room by its name (whose key is its case folding).
    """

    source: Identity
    room: str
    text: str
    action: bool = False

    @property
    def nick(self) -> str:
        """The sender's nickname when it spoke."""
        return self.source.nick


@dataclass(frozen=True, slots=True, kw_only=True)
class Told:
    """A private message from ``source`` to ``recipient`` (a nickname)."""

    source: Identity
    recipient: str
    text: str

    @property
    def sender(self) -> str:
        return self.source.nick


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    nick: str


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
    """To the user who changed nickname."""

    nick: str


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


class ClusterNews(enum.Enum):
    """What a cluster's server tells its own users about its contact with the others."""

    LOST_CONTACT = "lost contact"  # only users of this server can hear them now
    RESTORED = "restored"  # everyone can hear them again
    MAY_HAVE_LOST = "may have lost"  # the link broke a moment: some messages may be lost
    NICK_TAKEN = "nick taken"  # ``detail``: its nickname, taken meanwhile by someone else


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterNotice:
    """A server of a cluster tells its users what happened to its link with the others."""

    news: ClusterNews
    detail: str = ""


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
    | ClusterNotice
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
