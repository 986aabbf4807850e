"""What a client asked for, independent of how its dialect spells it.

A dialect turns a line into one of these; the chat rules act on them and
never look at raw text.  Where a command names a room, ``typed`` keeps the
name as the client typed it, for errors about what was typed, and ``room``
is the name the dialect means by it (a text client may leave out the ``#``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._modes import ModeChange
from ._replies import Rank, Speech


class CommandName(enum.Enum):
    """Commands whose usage line a dialect knows how to print."""

    MSG = "MSG"
    ME = "ME"
    TELL = "TELL"
    JOIN = "JOIN"
    KICK = "KICK"
    NICK = "NICK"
    OPER = "OPER"
    KILL = "KILL"
    MODE = "MODE"
    ROOM_MODE = "MODE <room>"
    WALLOPS = "WALLOPS"
    INVITE = "INVITE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Say:
    """Words to the other members of the sender's room; ``action`` for ``* nick text``.

    Kept this small on purpose: a text client's ``MSG`` is the hot path.
    """

    text: str
    action: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SayTo:
    """Words to a room named as typed (IRC's ``PRIVMSG #room``), with IRC's ``kind`` and tags.

    ``to_rank``: for the members of at least that rank only (IRC's ``PRIVMSG @#room``).
    """

    room: str
    text: str
    kind: Speech = Speech.WORDS
    tags: tuple[tuple[str, str], ...] = ()
    to_rank: Rank | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tell:
    """A private message to one user (``kind`` and ``tags`` as in ``Say``)."""

    nick: str
    text: str
    kind: Speech = Speech.WORDS
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRoom:
    """Enter a room (created if it does not exist); ``alone``: leave every other room first.

    ``key``: the room's key, for a room that has one.
    """

    room: str
    typed: str
    alone: bool
    key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PartRoom:
    """Leave a room, with a reason (maybe empty)."""

    room: str
    typed: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUsers:
    """The members of a room: ``room`` None for the asker's own room.

    ``quiet``: a room the asker cannot see gets an empty list rather than
    an error (IRC's ``NAMES``).
    """

    room: str | None = None
    typed: str = ""
    quiet: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomFilter:
    """Which rooms a listing shows: every condition given must hold (the default shows them all).

    ``names``: room names or wildcard masks (``*``, ``?``), one of which a
    room's name must match (none: any name); ``not_names``: masks it must
    match none of; names are matched without regard to case.  Member counts
    are strict bounds.  Ages are in seconds before the listing:
    ``younger_than`` and ``older_than`` bound when the room was created,
    ``topic_younger_than`` and ``topic_older_than`` when its topic was set
    (a room without a topic passes no topic condition).
    """

    names: tuple[str, ...] = ()
    not_names: tuple[str, ...] = ()
    more_members_than: int | None = None
    fewer_members_than: int | None = None
    younger_than: float | None = None
    older_than: float | None = None
    topic_younger_than: float | None = None
    topic_older_than: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRooms:
    """The rooms the asker may see, those ``where`` admits."""

    where: RoomFilter = RoomFilter()


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    """Show the topic of a room (``text`` empty), set it, or clear it (``clear``).

    ``room`` None: the asker's own room (text); else the room named, as ``typed``.
    """

    text: str
    room: str | None = None
    typed: str = ""
    clear: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Kick:
    """Put a user out of a room: ``room`` None for the kicker's own room (text)."""

    nick: str
    reason: str  # empty: no reason given
    room: str | None = None
    typed: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeNick:
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit:
    text: str  # empty: leave without a last message


@dataclass(frozen=True, slots=True, kw_only=True)
class Kill:
    nick: str
    text: str  # empty: no last message to the victim


@dataclass(frozen=True, slots=True, kw_only=True)
class Oper:
    """Become a server operator: with the password, or as a named account (``name``)."""

    password: str
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Help:
    subject: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BadUsage:
    """A known command with missing arguments."""

    command: CommandName


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownCommand:
    word: str  # as typed


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowRoomModes:
    """The modes of a room: ``room`` None for the asker's own room (web)."""

    room: str | None
    typed: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowBans:
    """The ban list of a room: ``room`` None for the asker's own room (web)."""

    room: str | None
    typed: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeRoomModes:
    """Change a room's modes, in order; each change that changes nothing is left out of the notice.

    ``room`` None: the asker's own room (web).
    """

    room: str | None
    changes: tuple[ModeChange, ...]
    typed: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserModes:
    """Show (all None) or change the modes of ``nick`` (oneself; "": the asker, for dialects that name none).

    ``announcements``: hear server operators' announcements (``Announce``);
    ``bot``: say one is a bot (IRC's ``B``).  Only ``operator=False``
    (giving up the status) changes it; becoming an operator is ``Oper``'s.
    """

    nick: str
    invisible: bool | None = None
    operator: bool | None = None
    announcements: bool | None = None
    bot: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeRealname:
    """Change one's real name (IRC's ``SETNAME``); the chat checks it (not empty, not too long)."""

    realname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Announce:
    """A server operator's ``text`` (never empty: dialects see to it) to all who hear announcements.

    IRC's and the text protocol's ``WALLOPS``; hearing them is user mode ``w``.
    """

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Invite:
    """Invite ``nick`` to a room: ``room`` None for the inviter's own room (text, web)."""

    nick: str
    room: str | None
    typed: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Away:
    message: str  # empty: back


@dataclass(frozen=True, slots=True, kw_only=True)
class Who:
    """Users matching ``mask`` (a room, a nickname, a wildcard mask; ``*`` or "" for everyone).

    ``fields`` and ``token``: a WHOX query's (IRC); ``operators``: only server operators.
    """

    mask: str
    fields: str = ""
    token: str = ""
    operators: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Whois:
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Whowas:
    nick: str
    count: int = 0  # at most this many entries (0 or less: all)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ison:
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Userhost:
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lusers:
    pass


class LineFault(enum.Enum):
    """Why a line could not be read at all."""

    INVALID_UTF8 = "invalid UTF-8"
    CONTROL_CHARACTER = "control character"


@dataclass(frozen=True, slots=True, kw_only=True)
class BadLine:
    fault: LineFault


Command = (
    Say
    | SayTo
    | Tell
    | JoinRoom
    | PartRoom
    | ListUsers
    | ListRooms
    | Topic
    | Kick
    | ChangeNick
    | Quit
    | Kill
    | Oper
    | Help
    | Ping
    | BadUsage
    | UnknownCommand
    | BadLine
    | ShowRoomModes
    | ShowBans
    | ChangeRoomModes
    | UserModes
    | ChangeRealname
    | Announce
    | Invite
    | Away
    | Who
    | Whois
    | Whowas
    | Ison
    | Userhost
    | Lusers
)
