"""The v1 wire format: LF-terminated UTF-8 lines, ``[sender] text`` replies.

Everything about spelling lives here: decoding and validating a line,
splitting it into a command word and arguments, and rendering replies.  A
second client dialect would be another module with the same two methods.
"""

from __future__ import annotations

import re
from typing import Protocol

from ._commands import (
    BadLine,
    BadUsage,
    ChangeNick,
    Command,
    CommandName,
    Help,
    Kill,
    LineFault,
    ListUsers,
    Oper,
    Ping,
    Quit,
    SendMessage,
    UnknownCommand,
)
from ._replies import (
    Chat,
    Error,
    ErrorKind,
    Goodbye,
    HelpText,
    Joined,
    KilledBy,
    LeaveReason,
    Left,
    NickChanged,
    NickSet,
    OperGranted,
    Pong,
    Reply,
    ShuttingDown,
    UserList,
    Welcome,
)


class Dialect(Protocol):
    """How one kind of client spells commands and replies."""

    def parse(self, line: bytes) -> Command | None:
        """Read one line (LF removed, CR kept); None for a line to ignore."""

    def render(self, reply: Reply) -> bytes:
        """Spell a reply as the bytes to send, terminator included."""


# C0 controls except TAB, DEL, and the C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# After stripping: the command word, then the rest after a run of blanks.
_WORD_AND_REST = re.compile("([^ \t]+)[ \t]*(.*)", re.DOTALL)
_BLANKS = " \t"

USAGES = {
    CommandName.MSG: "MSG <text>",
    CommandName.NICK: "NICK <nickname>",
    CommandName.QUIT: "QUIT [<text>]",
    CommandName.KILL: "KILL <nickname> [<text>]",
    CommandName.OPER: "OPER <password>",
    CommandName.WHO: "WHO",
    CommandName.HELP: "HELP",
    CommandName.PING: "PING [<token>]",
}

_HELP_LINES = (
    "Commands (case-insensitive):",
    "  MSG <text>                send <text> to everyone else",
    "  NICK <nickname>           change your nickname",
    "  WHO                       list connected users",
    "  QUIT [<text>]             leave, with an optional last message",
    "  OPER <password>           become an operator",
    "  KILL <nickname> [<text>]  disconnect a user (operators only)",
    "  PING [<token>]            the server answers PONG <token>",
    "  HELP                      this list",
)

_ERROR_TEXT = {
    ErrorKind.INVALID_UTF8: "invalid UTF-8",
    ErrorKind.CONTROL_CHARACTER: "control characters are not allowed",
    ErrorKind.PERMISSION_DENIED: "permission denied, use OPER first",
    ErrorKind.KILL_SELF: "use QUIT to leave",
    ErrorKind.WRONG_PASSWORD: "wrong password",
    ErrorKind.TOO_MANY_OPER_FAILURES: "too many failed OPER attempts",
    ErrorKind.SERVER_FULL: "server full",
}
_ERROR_FORMAT = {
    ErrorKind.LINE_TOO_LONG: "line too long (max {} bytes)",
    ErrorKind.USAGE: "usage: {}",
    ErrorKind.INVALID_COMMAND: "invalid command {}",
    ErrorKind.INVALID_NICK: "invalid nickname {}",
    ErrorKind.NICK_IN_USE: "nickname {} is already in use",
    ErrorKind.NO_SUCH_NICK: "no such nickname {}",
}
_LEAVE_SUFFIX = {
    LeaveReason.LEFT: "",
    LeaveReason.OPER_FAILURES: " (too many failed OPER attempts)",
    LeaveReason.TOO_SLOW: " (too slow)",
}


def _server_line(text: str) -> bytes:
    return f"[server] {text}\n".encode()


class TextDialect:
    """The line protocol of docs/protocol.md."""

    def parse(self, line: bytes) -> Command | None:
        if line[-1:] == b"\r":
            line = line[:-1]
        try:
            text = line.decode()
        except UnicodeDecodeError:
            return BadLine(fault=LineFault.INVALID_UTF8)
        # Every control character is unprintable: the regex runs only on the rare line
        # with a TAB or an unprintable character, to tell which it is.
        if not text.isprintable() and _CONTROL.search(text):
            return BadLine(fault=LineFault.CONTROL_CHARACTER)
        text = text.strip(_BLANKS)
        if not text:
            return None
        return _command(*_split_word(text))

    def render(self, reply: Reply) -> bytes:
        match reply:
            case Chat(nick=nick, text=text):
                return f"[{nick}] {text}\n".encode()
            case Error(kind=kind, detail=detail):
                if kind is ErrorKind.USAGE:
                    detail = USAGES[CommandName(detail)]
                fixed = _ERROR_TEXT.get(kind)
                text = fixed if fixed is not None else _ERROR_FORMAT[kind].format(detail)
                return _server_line(f"Error: {text}")
            case Welcome(nick=nick):
                return _server_line(f"Welcome to the chat, {nick}! Type HELP for the list of commands.")
            case Joined(nick=nick):
                return _server_line(f"{nick} is connected")
            case Left(nick=nick, reason=LeaveReason.KILLED, killer=killer):
                return _server_line(f"{nick} is disconnected (killed by {killer})")
            case Left(nick=nick, reason=reason):
                return _server_line(f"{nick} is disconnected{_LEAVE_SUFFIX[reason]}")
            case NickChanged(old=old, new=new):
                return _server_line(f"{old} is now known as {new}")
            case NickSet(nick=nick):
                return _server_line(f"You are now known as {nick}")
            case UserList(nicks=nicks):
                return _server_line(f"Users ({len(nicks)}): {' '.join(nicks)}")
            case Goodbye(nick=nick):
                return _server_line(f"Goodbye, {nick}.")
            case KilledBy(killer=killer):
                return _server_line(f"You have been killed by {killer}")
            case OperGranted():
                return _server_line("You are now an operator")
            case Pong(token=token):
                return _server_line(f"PONG {token}" if token else "PONG")
            case HelpText():
                return b"".join(_server_line(text) for text in _HELP_LINES)
            case ShuttingDown():
                return _server_line("Server is shutting down")
        raise TypeError(f"cannot render {reply!r}")  # pragma: no cover - exhaustive above


def _split_word(text: str) -> tuple[str, str]:
    """Split stripped, non-empty text into its first word and the rest."""
    word, _, rest = text.partition(" ")
    if "\t" not in word:  # the usual case, without the regex
        return word, rest.lstrip(_BLANKS)
    match = _WORD_AND_REST.fullmatch(text)
    assert match is not None  # stripped non-empty text always starts with a word
    return match[1], match[2]


def _command(word: str, rest: str) -> Command:
    # ASCII only, so that no other script's case mapping spells a command.
    verb = word.upper() if word.isascii() else word
    if verb == "MSG":
        return SendMessage(text=rest) if rest else BadUsage(command=CommandName.MSG)
    if verb == "NICK":
        return ChangeNick(nick=rest) if rest else BadUsage(command=CommandName.NICK)
    if verb == "WHO":
        return ListUsers()
    if verb == "QUIT":
        return Quit(text=rest)
    if verb == "KILL":
        if not rest:
            return BadUsage(command=CommandName.KILL)
        target, text = _split_word(rest)
        return Kill(nick=target, text=text)
    if verb == "OPER":
        return Oper(password=rest) if rest else BadUsage(command=CommandName.OPER)
    if verb == "HELP":
        return Help()
    if verb == "PING":
        return Ping(token=rest)
    return UnknownCommand(word=word)
