"""The chat server state: sessions in front, the chat rules behind, the fan-out in between.

Events come in for connections; each connection has a session (its dialect,
input gate and registration), which turns lines into commands for the chat;
the chat addresses replies to audiences, and the fan-out turns those into
``Send`` actions, rendered once per renderer present.
"""

from __future__ import annotations

import enum
import heapq
from typing import assert_never

from ._actions import Action, CloseReason, LogLevel
from ._base import Hold, LineInput, LineServerBase
from ._chat import Chat
from ._cluster import ClusterSeat
from ._config import ServerConfig
from ._events import ConnId, DialectName
from ._facts import Fact
from ._fanout import FanOut
from ._framing import Framing
from ._irc_render import IRCRenderer, IRCRenderers, IRCServerInfo
from ._irc_session import IRCSession
from ._nicknames import NickRegistry
from ._replies import Error, ErrorKind, LeaveReason, Renderer, ShuttingDown
from ._session import Registration, Session, TextSession, WebSession
from ._shared import (
    NODE_SHIFT,
    BurstAnswered,
    ClusterChanged,
    ClusterEvent,
    FactsArrived,
    GuestsLeased,
    NodeDown,
    ShareFailed,
)
from ._users import User
from ._web_dialect import WebRenderer, error_event


class Refusal(enum.Enum):
    """Why a connection is turned away before it is a client (it is told, then closed)."""

    SERVER_FULL = ErrorKind.SERVER_FULL
    TLS_REQUIRED = ErrorKind.TLS_REQUIRED  # it spoke plain text to a TLS port


def refusal(dialect: DialectName, why: Refusal) -> bytes:
    """What a connection of ``dialect`` turned away for ``why`` is told, in its own words.

    Backends send it unaccounted and close: ``SERVER_FULL`` comes from the
    core itself (``max_clients``); ``TLS_REQUIRED`` from a TLS listener's
    transport when the client speaks plain text instead of a handshake.
    """
    error = Error(kind=why.value)
    match dialect:
        case DialectName.TEXT:
            return TextSession.renderer.render(error)
        case DialectName.IRC:
            return IRCRenderer.refusal(why.value)
        case DialectName.WEB:
            return error_event(error)
        case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
            assert_never(dialect)


class ChatServerState(LineServerBase[Session]):
    """The chat protocol of docs/protocol.md (and, for IRC clients, docs/irc.md) as a state machine.

    Feed it events with ``receive``; it returns actions.  It never performs
    I/O and never reads a clock: time arrives as ``Tick`` events.
    ``registry`` decides who may take a nickname (by default this server
    alone does, at once); see ``NickRegistry``.  With ``config.cluster_node``
    set, the server is one of a cluster: it shares facts (``Share``) and
    applies them when they come back (``FactsArrived``); see ``_shared.py``.
    """

    def __init__(self, config: ServerConfig | None = None, *, registry: NickRegistry | None = None) -> None:
        super().__init__(config)
        self.clock = self._clock
        node = self.config.cluster_node
        seat = ClusterSeat(node, self._emit) if node else None
        self._seat = seat
        self._uid_base = node << NODE_SHIFT
        if seat is None:
            self._fanout = FanOut(self._send, self._conns)
        else:
            self._fanout = FanOut(self._send, self._conns, follow=seat.follow, unfollow=seat.unfollow)
        self.chat = self._chat = Chat(
            self.config,
            self._fanout,
            _SessionControl(self),
            self._log,
            registry=registry,
            clock=self._clock,
            seat=seat,
        )
        self.renderers = IRCRenderers(IRCServerInfo(self.config, self._clock))
        self._web_renderer = WebRenderer(max_message_bytes=self.config.max_line_bytes)  # every web client's
        self._irc_host = _IRCHost(self)  # shared by every IRC session
        self._too_long: dict[Renderer, bytes] = {}  # each renderer's line-too-long error, made once
        # (time, conn) at which an IRC session asked to be checked (registration, silence); stale ones
        # are skipped.
        self._checks: list[tuple[float, ConnId]] = []

    def apply(self, fact: Fact) -> list[Action]:
        """Apply a fact decided elsewhere (by another server of a cluster); return the actions, in order.

        What this server's own clients ask is decided and applied within
        ``receive``; a fact that became stale meanwhile (its user left, its
        room is gone) changes nothing.
        """
        actions = self._start_actions()
        self._chat.apply(fact)
        if self._batch_conns is not None:
            self._end_batch()
        return actions

    @property
    def uses_clock(self) -> bool:
        """Always: IRC clients are shown the time (``server-time``), and idle ones are pinged."""
        return True

    @property
    def next_wakeup(self) -> float | None:
        wakeup = super().next_wakeup
        seat = self._seat
        if seat is not None:  # a round of presences ends then
            rounds = seat.next_round_end
            if rounds is not None and (wakeup is None or rounds < wakeup):
                wakeup = rounds
        checks = self._checks
        while checks and not self._check_due(*checks[0]):
            heapq.heappop(checks)  # its connection left, or it asked for another time since
        if not checks:
            return wakeup
        return checks[0][0] if wakeup is None else min(checks[0][0], wakeup)

    def _check_due(self, at: float, conn: ConnId) -> bool:
        session = self._conns.get(conn)
        return isinstance(session, IRCSession) and session.due == at

    def _on_tick(self) -> None:
        super()._on_tick()
        checks, now = self._checks, self._now
        due = []  # taken first: a check asks for the next one
        while checks and checks[0][0] <= now:
            due.append(heapq.heappop(checks))
        for at, conn in due:
            if self._check_due(at, conn):
                session = self._conns[conn]
                assert isinstance(session, IRCSession)
                session.check(now)
        cluster = self._chat.cluster
        if cluster is not None:
            cluster.tick(now)

    # -- connections --------------------------------------------------------------------

    def _on_open(self, conn: ConnId, dialect: DialectName, secure: bool) -> Session:
        # Off a cluster the user id is the connection id itself: no second int per idle user.
        uid = self._uid_base + conn if self._uid_base else conn
        match dialect:
            case DialectName.TEXT:
                return TextSession(conn, uid, secure=secure)
            case DialectName.IRC:
                return IRCSession(conn, uid, self._irc_host, secure=secure)
            case DialectName.WEB:
                return WebSession(conn, uid, self._web_renderer, secure=secure)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(dialect)

    def _on_opened(self, conn: ConnId, peer: str) -> None:
        session = self._conns[conn]
        if isinstance(session, IRCSession):
            session.peer = peer  # it registers itself, when it has said who it is
            self._chat.pass_number()
            return
        self._chat.arrive(session.user, self._admitted, peer)  # its lines wait if the name is not granted yet

    def _on_refused(self, conn: ConnId, dialect: DialectName) -> None:
        self._send_unaccounted(conn, refusal(dialect, Refusal.SERVER_FULL))

    def _end_of_stream(self, line_input: LineInput) -> None:
        line_input.lines.end_stream()

    def _on_line(self, session: Session, line: bytes | Framing) -> None:
        if line is Framing.TOO_LONG:
            self._send((session.conn,), self._line_too_long(session))
            return
        assert isinstance(line, bytes)
        command = session.parse(line)
        if command is None:
            return
        if isinstance(command, Error):  # unreadable in its dialect: answered here, the chat never sees it
            self._send((session.conn,), session.renderer.render(command))
            return
        self._chat.handle(session.user, command)

    def _line_too_long(self, session: Session) -> bytes:
        error = Error(kind=ErrorKind.LINE_TOO_LONG, detail=str(self.config.max_line_bytes))
        if type(session).render is not Session.render:  # a reply that names its recipient: not shared
            return session.render(error)
        renderer = session.renderer
        data = self._too_long.get(renderer)
        if data is None:
            data = self._too_long[renderer] = renderer.render(error)
        return data

    def _on_stream_end(self, session: Session) -> None:
        if not self._leaves(session, LeaveReason.LEFT):
            self._close(session.conn)

    def _on_too_slow(self, conn: ConnId) -> None:
        self._leaves(self._conns[conn], LeaveReason.TOO_SLOW, aborted=True)
        self._abort(conn)

    def _on_protocol_error(self, conn: ConnId) -> None:
        """As a reset (what it still held is dropped), but the others are told why it left."""
        session = self._conns[conn]
        session.input = None
        if not self._leaves(session, LeaveReason.PROTOCOL_ERROR):
            self._close(conn)

    def _leaves(self, session: Session, reason: LeaveReason, *, aborted: bool = False) -> bool:
        """Tell the chat; True: it closes the connection itself, once its departure crossed the cluster."""
        if session.state is Registration.REGISTERED:
            return self._chat.leave(session.user, reason, aborted=aborted)
        self._chat.abandon(session.user)
        return False

    def _on_claim_answered(self, claim: int, granted: bool) -> None:
        if not self._shutting_down:  # every connection is closed: nobody waits any more
            self._chat.claim_answered(claim, granted)

    def _on_cluster(self, event: ClusterEvent) -> None:
        cluster = self._chat.cluster
        if cluster is None:
            return  # a server alone: nothing was shared
        match event:
            case FactsArrived(arrivals=arrivals):
                cluster.arrived(arrivals, self._now)
            case ShareFailed(ticket=ticket, why=why):
                cluster.share_failed(ticket, why)
            case GuestsLeased(first=first, last=last):
                cluster.guests_leased(first, last)
            case ClusterChanged(status=status):
                cluster.cluster_changed(status)
            case BurstAnswered(refused=refused):
                cluster.burst_answered(refused)
            case NodeDown(keys=keys):
                cluster.node_down(keys)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(event)

    def _on_shutdown(self) -> None:
        self._fanout.to_everyone(ShuttingDown())
        count = len(self._conns)
        self._log(LogLevel.INFO, f"shutting down, closing {count} connection{'' if count == 1 else 's'}")
        for conn in list(self._conns):
            self._close(conn, CloseReason.SHUTDOWN)


class _SessionControl:
    """What the chat asks of its users' connections (``Connections``), done on their sessions."""

    def __init__(self, server: ChatServerState) -> None:
        self._server = server

    def registered(self, user: User) -> None:
        session = user.session
        if session is not None:
            session.state = Registration.REGISTERED
            if isinstance(session, IRCSession):
                session.welcomed()

    def reserved(self, user: User, nick: str) -> None:
        session = user.session
        assert isinstance(session, IRCSession)  # only IRC clients register with a nickname of their own
        session.reserved(nick)

    def claim_pending(self, user: User) -> None:
        assert user.session is not None  # only a user connected here makes claims and shares
        self._server._hold(user.session, Hold.CLAIM)

    def claim_settled(self, user: User) -> None:
        assert user.session is not None  # a user whose connection ended waits for nothing
        self._server._release(user.session, Hold.CLAIM)

    def close(self, user: User) -> None:
        if user.session is not None:
            self._server._close(user.session.conn)


class _IRCHost:
    """What IRC sessions ask of the server (``IRCHost``)."""

    __slots__ = ("_server", "chat", "clock", "config", "renderers")

    def __init__(self, server: ChatServerState) -> None:
        self._server = server
        self.chat = server.chat
        self.clock = server.clock
        self.config = server.config
        self.renderers = server.renderers

    def send(self, session: Session, data: bytes) -> None:
        self._server._send((session.conn,), data)

    def end(self, session: Session, reason: LeaveReason) -> None:
        if not self._server._leaves(session, reason):
            self._server._close(session.conn)

    def renderer_changed(self, session: Session, old: Renderer) -> None:
        self._server._fanout.refile(session.user, old)

    def watch(self, session: IRCSession, at: float) -> None:
        session.due = at
        heapq.heappush(self._server._checks, (at, session.conn))
