"""What a client asked for, independent of how its dialect spells it.

A dialect turns a line into one of these; the chat rules act on them and
never look at raw text.  Where a command names a room, ``typed`` keeps the
name as the client typed it, for errors about what was typed, and ``room``
is the name the dialect means by it (a text client may leave out the ``#``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Say:
    """Words to the other members of the sender's room; ``action`` for ``* nick text``."""

    text: str
    action: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Tell:
    """A private message to one user."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRoom:
    """Enter a room (created if it does not exist); ``alone``: leave every other room first."""

    room: str
    typed: str
    alone: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUsers:
    """The members of a room: ``room`` None for the asker's own room."""

    room: str | None = None
    typed: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    """Show the topic of the asker's room (``text`` empty), or set it."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Kick:
    """Put a user out of the kicker's room."""

    nick: str
    reason: str  # empty: no reason given


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
    password: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Help:
    pass


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


class LineFault(enum.Enum):
    """Why a line could not be read at all."""

    INVALID_UTF8 = "invalid UTF-8"
    CONTROL_CHARACTER = "control character"


@dataclass(frozen=True, slots=True, kw_only=True)
class BadLine:
    fault: LineFault


Command = (
    Say
    | Tell
    | JoinRoom
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
)
