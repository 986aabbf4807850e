"""The chat server state: sessions in front, the chat rules behind, the fan-out in between.

Events come in for connections; each connection has a session (its dialect,
input gate and registration), which turns lines into commands for the chat;
the chat addresses replies to audiences, and the fan-out turns those into
``Send`` actions, rendered once per renderer present.
"""

from __future__ import annotations

from typing import assert_never

from ._actions import CloseReason, LogLevel
from ._base import Hold, LineInput, LineServerBase
from ._chat import Chat
from ._config import ServerConfig
from ._events import ConnId, DialectName
from ._fanout import FanOut
from ._framing import Framing
from ._nicknames import NickRegistry
from ._replies import Error, ErrorKind, LeaveReason, Renderer, ShuttingDown
from ._session import Registration, Session, TextSession, WebSession
from ._users import User


class ChatServerState(LineServerBase[Session]):
    """The chat protocol of docs/protocol.md as a state machine.

    Feed it events with ``receive``; it returns actions.  It never performs
    I/O and never reads a clock: time arrives as ``Tick`` events.
    ``registry`` decides who may take a nickname (by default this server
    alone does, at once); see ``NickRegistry``.
    """

    def __init__(self, config: ServerConfig | None = None, *, registry: NickRegistry | None = None) -> None:
        super().__init__(config)
        self._fanout = FanOut(self._send, self._conns)
        self._chat = Chat(self.config, self._fanout, _SessionControl(self), self._log, registry)
        self._too_long: dict[Renderer, bytes] = {}  # each renderer's line-too-long error, made once

    # -- connections --------------------------------------------------------------------

    def _on_open(self, conn: ConnId, dialect: DialectName) -> Session:
        match dialect:
            case DialectName.TEXT:
                return TextSession(conn)
            case DialectName.WEB:
                return WebSession(conn)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(dialect)

    def _on_opened(self, conn: ConnId, peer: str) -> None:
        session = self._conns[conn]
        self._chat.arrive(session.user, self._admitted, peer)
        self._reading_follows_gate(session, was_held=False)  # its lines wait if the name is not granted yet

    def _on_refused(self, conn: ConnId, dialect: DialectName) -> None:
        match dialect:
            case DialectName.TEXT:
                self._send_unaccounted(conn, TextSession.renderer.render(Error(kind=ErrorKind.SERVER_FULL)))
            case DialectName.WEB:
                self._send_unaccounted(conn, WebSession.renderer.render(Error(kind=ErrorKind.SERVER_FULL)))
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(dialect)

    def _end_of_stream(self, line_input: LineInput) -> None:
        line_input.lines.end_stream()

    def _on_line(self, session: Session, line: bytes | Framing) -> None:
        if line is Framing.TOO_LONG:
            self._send((session.conn,), self._line_too_long(session.renderer))
            return
        assert isinstance(line, bytes)
        command = session.parse(line)
        if command is None:
            return
        if isinstance(command, Error):  # unreadable in its dialect: answered here, the chat never sees it
            self._send((session.conn,), session.renderer.render(command))
            return
        self._chat.handle(session.user, command)

    def _line_too_long(self, renderer: Renderer) -> bytes:
        data = self._too_long.get(renderer)
        if data is None:
            error = Error(kind=ErrorKind.LINE_TOO_LONG, detail=str(self.config.max_line_bytes))
            data = self._too_long[renderer] = renderer.render(error)
        return data

    def _on_stream_end(self, session: Session) -> None:
        self._leaves(session, LeaveReason.LEFT)
        self._close(session.conn)

    def _on_too_slow(self, conn: ConnId) -> None:
        self._leaves(self._conns[conn], LeaveReason.TOO_SLOW)
        self._abort(conn)

    def _leaves(self, session: Session, reason: LeaveReason) -> None:
        if session.state is Registration.REGISTERED:
            self._chat.leave(session.user, reason)
        else:
            self._chat.abandon(session.user)

    def _on_claim_answered(self, claim: int, granted: bool) -> None:
        if not self._shutting_down:  # every connection is closed: nobody waits any more
            self._chat.claim_answered(claim, granted)

    def _on_shutdown(self) -> None:
        self._fanout.to_everyone(ShuttingDown())
        self._log(LogLevel.INFO, f"shutting down, closing {len(self._conns)} connections")
        for conn in list(self._conns):
            self._close(conn, CloseReason.SHUTDOWN)


class _SessionControl:
    """What the chat asks of its users' connections (``Connections``), done on their sessions."""

    def __init__(self, server: ChatServerState) -> None:
        self._server = server

    def registered(self, user: User) -> None:
        user.session.state = Registration.REGISTERED

    def claim_pending(self, user: User) -> None:
        self._server._hold(user.session, Hold.CLAIM)

    def claim_settled(self, user: User) -> None:
        self._server._release(user.session, Hold.CLAIM)

    def close(self, user: User) -> None:
        self._server._close(user.session.conn)
