"""What a client asked for, independent of how its dialect spells it.

A dialect turns a line into one of these; the chat rules act on them and
never look at raw text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CommandName(enum.Enum):
    """Commands whose usage line a dialect knows how to print."""

    MSG = "MSG"
    NICK = "NICK"
    QUIT = "QUIT"
    KILL = "KILL"
    OPER = "OPER"
    WHO = "WHO"
    HELP = "HELP"
    PING = "PING"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendMessage:
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeNick:
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUsers:
    pass


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

    TOO_LONG = "too long"
    INVALID_UTF8 = "invalid UTF-8"
    CONTROL_CHARACTER = "control character"


@dataclass(frozen=True, slots=True, kw_only=True)
class BadLine:
    fault: LineFault


Command = (
    SendMessage
    | ChangeNick
    | ListUsers
    | Quit
    | Kill
    | Oper
    | Help
    | Ping
    | BadUsage
    | UnknownCommand
    | BadLine
)
