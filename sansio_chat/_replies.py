"""What the server tells clients, independent of how a dialect renders it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Chat:
    """A user's words, relayed."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined:
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Left:
    nick: str
    reason: LeaveReason
    killer: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NickChanged:
    old: str
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NickSet:
    """To the user who changed nickname."""

    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserList:
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Goodbye:
    nick: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KilledBy:
    killer: str


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
    """``detail`` is the thing the error is about (a nickname, a word, a limit)."""

    kind: ErrorKind
    detail: str = ""


Reply = (
    Chat
    | Welcome
    | Joined
    | Left
    | NickChanged
    | NickSet
    | UserList
    | Goodbye
    | KilledBy
    | OperGranted
    | Pong
    | HelpText
    | ShuttingDown
    | Error
)
