"""The chat rules: users, nicknames, operators, and who receives what.

Nothing here knows how a command or a reply is spelled; that is the
dialect's business (``_text_dialect``).  Each broadcast is rendered once and
the same ``bytes`` object is queued for every recipient.
"""

from __future__ import annotations

import hmac
from typing import assert_never

from ._actions import LogLevel
from ._base import LineReader, LineServerBase
from ._commands import (
    BadLine,
    BadUsage,
    ChangeNick,
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
from ._config import MAX_OPER_FAILURES, ServerConfig
from ._events import ConnId
from ._framing import Framing
from ._nicknames import is_valid_nickname, nick_key
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
from ._roster import Roster
from ._text_dialect import Dialect, TextDialect

_FAULT_ERRORS = {
    LineFault.INVALID_UTF8: Error(kind=ErrorKind.INVALID_UTF8),
    LineFault.CONTROL_CHARACTER: Error(kind=ErrorKind.CONTROL_CHARACTER),
}


class _User:
    """A connected user: the chat-level state of one connection."""

    __slots__ = ("conn", "is_operator", "nick", "oper_failures")

    def __init__(self, conn: ConnId, nick: str) -> None:
        self.conn = conn
        self.nick = nick
        self.is_operator = False
        self.oper_failures = 0

    @property
    def key(self) -> str:
        """The nickname as compared for uniqueness (computed: an idle user stays small)."""
        return nick_key(self.nick)


class ChatServerState(LineServerBase[_User]):
    """The chat protocol of docs/protocol.md as a state machine.

    Feed it events with ``receive``; it returns actions.  It never performs
    I/O and never reads a clock: time arrives as ``Tick`` events.
    """

    def __init__(self, config: ServerConfig | None = None, dialect: Dialect | None = None) -> None:
        super().__init__(config)
        self._dialect = dialect if dialect is not None else TextDialect()
        self._by_key: dict[str, _User] = {}
        self._roster = Roster()  # the users' connections, for broadcasts
        self._joined_count = 0
        self._too_long = self._dialect.render(
            Error(kind=ErrorKind.LINE_TOO_LONG, detail=str(self.config.max_line_bytes))
        )

    # -- arrivals and departures ------------------------------------------

    def _on_open(self, conn: ConnId, peer: str) -> _User:
        self._joined_count += 1
        nick = self._free_guest_nick(self._joined_count)
        user = _User(conn, nick)
        others = self._roster.everyone
        self._by_key[user.key] = user
        self._roster.add(conn)
        self._reply(user, Welcome(nick=nick))
        if others:
            self._send(others, self._dialect.render(Joined(nick=nick)))
        self._log(LogLevel.INFO, f"{nick} connected from {peer}")
        return user

    def _on_refused(self, conn: ConnId) -> None:
        self._send_unaccounted(conn, self._dialect.render(Error(kind=ErrorKind.SERVER_FULL)))

    def _free_guest_nick(self, number: int) -> str:
        while nick_key(f"guest{number}") in self._by_key:
            number += 1
        return f"guest{number}"

    def _end_of_stream(self, reader: LineReader) -> None:
        reader.lines.end_stream()

    def _on_stream_end(self, conn: ConnId) -> None:
        user = self._conns[conn]
        self._depart(user, Left(nick=user.nick, reason=LeaveReason.LEFT))
        self._close(conn)

    def _on_too_slow(self, conn: ConnId) -> None:
        user = self._conns[conn]
        self._depart(user, Left(nick=user.nick, reason=LeaveReason.TOO_SLOW))
        self._abort(conn)

    def _on_shutdown(self) -> None:
        everyone = self._roster.everyone
        if everyone:
            self._send(everyone, self._dialect.render(ShuttingDown()))
        self._log(LogLevel.INFO, f"shutting down, closing {len(everyone)} connections")
        for conn in everyone:
            self._close(conn)

    def _depart(self, user: _User, notice: Left) -> None:
        """Tell everyone else that a user leaves; the caller closes it, which forgets it."""
        others = self._roster.others(user.conn)
        if others:
            self._send(others, self._dialect.render(notice))
        reason = (
            notice.reason.value if notice.reason is not LeaveReason.KILLED else f"killed by {notice.killer}"
        )
        self._log(LogLevel.INFO, f"{user.nick} disconnected ({reason})")

    def _forget(self, conn: ConnId) -> None:
        del self._by_key[self._conns[conn].key]
        self._roster.remove(conn)
        super()._forget(conn)

    # -- lines and commands -----------------------------------------------

    def _on_line(self, reader: LineReader, line: bytes | Framing) -> None:
        user = self._conns[reader.conn]
        if line is Framing.TOO_LONG:
            self._send((user.conn,), self._too_long)
            return
        assert isinstance(line, bytes)
        command = self._dialect.parse(line)
        match command:
            case None:
                pass
            case SendMessage(text=text):
                others = self._roster.others(user.conn)
                if others:
                    self._send(others, self._dialect.render(Chat(nick=user.nick, text=text)))
            case ChangeNick(nick=nick):
                self._change_nick(user, nick)
            case ListUsers():
                nicks = tuple(u.nick for u in self._conns.values())
                self._reply(user, UserList(nicks=nicks))
            case Quit(text=text):
                self._quit(user, text)
            case Kill(nick=nick, text=text):
                self._kill(user, nick, text)
            case Oper(password=password):
                self._oper(user, password)
            case Help():
                self._reply(user, HelpText())
            case Ping(token=token):
                self._reply(user, Pong(token=token))
            case BadUsage(command=name):
                self._reply(user, Error(kind=ErrorKind.USAGE, detail=name.value))
            case UnknownCommand(word=word):
                self._reply(user, Error(kind=ErrorKind.INVALID_COMMAND, detail=word))
            case BadLine(fault=fault):
                self._reply(user, _FAULT_ERRORS[fault])
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(command)

    def _change_nick(self, user: _User, new: str) -> None:
        if not is_valid_nickname(new):
            self._reply(user, Error(kind=ErrorKind.INVALID_NICK, detail=new))
            return
        key = nick_key(new)
        holder = self._by_key.get(key)
        if holder is not None and holder is not user:
            self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
            return
        old = user.nick
        self._reply(user, NickSet(nick=new))
        if new == old:
            return
        del self._by_key[user.key]
        user.nick = new
        self._by_key[key] = user
        others = self._roster.others(user.conn)
        if others:
            self._send(others, self._dialect.render(NickChanged(old=old, new=new)))
        self._log(LogLevel.INFO, f"{old} is now known as {new}")

    def _quit(self, user: _User, text: str) -> None:
        if text:
            others = self._roster.others(user.conn)
            if others:
                self._send(others, self._dialect.render(Chat(nick=user.nick, text=text)))
        self._reply(user, Goodbye(nick=user.nick))
        self._depart(user, Left(nick=user.nick, reason=LeaveReason.LEFT))
        self._close(user.conn)

    def _kill(self, killer: _User, nick: str, text: str) -> None:
        if not killer.is_operator:
            self._reply(killer, Error(kind=ErrorKind.PERMISSION_DENIED))
            return
        victim = self._by_key.get(nick_key(nick))
        if victim is None:
            self._reply(killer, Error(kind=ErrorKind.NO_SUCH_NICK, detail=nick))
            return
        if victim is killer:
            self._reply(killer, Error(kind=ErrorKind.KILL_SELF))
            return
        if text:
            self._reply(victim, Chat(nick=killer.nick, text=text))
        self._reply(victim, KilledBy(killer=killer.nick))
        self._depart(victim, Left(nick=victim.nick, reason=LeaveReason.KILLED, killer=killer.nick))
        self._close(victim.conn)

    def _oper(self, user: _User, password: str) -> None:
        expected = self.config.oper_password
        if expected and hmac.compare_digest(password.encode(), expected.encode()):
            user.is_operator = True
            self._reply(user, OperGranted())
            self._log(LogLevel.INFO, f"{user.nick} is now an operator")
            return
        user.oper_failures += 1
        self._log(LogLevel.WARNING, f"{user.nick} failed OPER ({user.oper_failures}/{MAX_OPER_FAILURES})")
        if user.oper_failures < MAX_OPER_FAILURES:
            self._reply(user, Error(kind=ErrorKind.WRONG_PASSWORD))
            return
        self._reply(user, Error(kind=ErrorKind.TOO_MANY_OPER_FAILURES))
        self._depart(user, Left(nick=user.nick, reason=LeaveReason.OPER_FAILURES))
        self._close(user.conn)

    # -- sending ------------------------------------------------------------

    def _reply(self, user: _User, reply: Reply) -> None:
        self._send((user.conn,), self._dialect.render(reply))
