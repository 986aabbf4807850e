"""What every server state shares: open connections, queued bytes, line pumping.

The three modes (echo, relay, chat) differ only in what they do with the
bytes; opening, refusing, the slow-consumer rule, flood control, shutdown
and the action list are decided here once.
"""

from __future__ import annotations

import enum
import heapq
from typing import Generic, TypeVar, assert_never

from ._actions import Abort, Action, Close, CloseReason, Log, LogLevel, PauseReading, ResumeReading, Send
from ._config import ServerConfig
from ._events import (
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    DialectName,
    EofReceived,
    Event,
    MessagesReceived,
    NickClaimAnswered,
    OutputBacklog,
    ShutdownRequested,
    Tick,
)
from ._flood import TokenBucket
from ._framing import Framing, LineBuffer, MessageBuffer
from ._shared import (
    BurstAnswered,
    ClusterChanged,
    ClusterEvent,
    FactsArrived,
    GuestsLeased,
    NodeDown,
    ShareFailed,
)

#: What a mode keeps about each open connection (a chat session; nothing for echo).
S = TypeVar("S")

#: At most one log line a second about refused connections; the rest are counted.
REFUSAL_LOG_INTERVAL = 1.0


class RefusalLog:
    """Refused connections (server full), logged at most once an interval, with a count.

    A storm of connections to a full server must not become a storm of log
    lines: the first refusal is logged at once, the next ones within the
    interval are counted, and the count is logged when the interval is over
    (``due``: when the owner should call ``report``).
    """

    __slots__ = ("_quiet_until", "_unreported")

    def __init__(self) -> None:
        self._quiet_until = float("-inf")
        self._unreported = 0

    @property
    def due(self) -> float | None:
        """When the count of refusals not yet logged is due, or None."""
        return self._quiet_until if self._unreported else None

    def refused(self, peer: str, now: float) -> str | None:
        """A connection from ``peer`` was refused: the line to log now, or None (counted)."""
        if now < self._quiet_until:
            self._unreported += 1
            return None
        # Past the interval nothing is left unreported: the tick that ended it reported the count.
        self._quiet_until = now + REFUSAL_LOG_INTERVAL
        return f"refused {peer}: server full"

    def report(self, now: float) -> str | None:
        """The count of refusals not yet logged, once it is due; None otherwise."""
        if now < self._quiet_until:
            return None
        return self.report_now(now)

    def report_now(self, now: float) -> str | None:
        """The count of refusals not yet logged, due or not (the server stops: later would be too late)."""
        if not self._unreported:
            return None
        more, self._unreported = self._unreported, 0
        self._quiet_until = now + REFUSAL_LOG_INTERVAL
        return f"refused {more} more connection{'s' if more > 1 else ''}: server full"


class Clock:
    """The time as the last ``Tick`` gave it, shared by whoever needs it (the chat, renderers).

    ``now`` is monotonic (deadlines), ``wall`` seconds since the Unix epoch
    (what users are shown).  Nothing in the core reads a clock of its own.
    """

    __slots__ = ("now", "wall")

    def __init__(self) -> None:
        self.now = 0.0
        self.wall = 0.0


class ServerBase(Generic[S]):
    """Turns events into actions; subclasses say what the bytes mean.

    ``receive`` is the only entry point.  Each call returns the actions it
    produced, in the order a backend must carry them out.

    Consecutive sends to the same recipients within one call become a single
    ``Send`` of the joined bytes.  A read often carries a burst of lines from
    one sender; each recipient then gets one queue entry for the burst
    instead of one per line, with the same bytes in the same order.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._now = 0.0
        self._clock = Clock()
        self._actions: list[Action] = []
        # The send being gathered: its recipients and its parts, not yet an action.
        self._batch_conns: tuple[ConnId, ...] | None = None
        self._batch: list[bytes] = []
        # Open connections in connection order, each with what its mode keeps about it.
        self._conns: dict[ConnId, S] = {}
        self._admitted = 0  # connections admitted so far
        self._refusals = RefusalLog()
        self._shutting_down = False

    # -- the public face -------------------------------------------------

    def receive(self, event: Event) -> list[Action]:
        """Consume one event; return what the backend must do, in order."""
        actions = self._start_actions()
        match event:
            case DataReceived(conn=conn, data=data):
                if conn in self._conns:
                    self._on_data(conn, data)
            case MessagesReceived(conn=conn, messages=messages):
                if conn in self._conns:
                    self._on_messages(conn, messages)
            case OutputBacklog(conn=conn, unsent=unsent):
                if unsent > self.config.max_pending_bytes and conn in self._conns:
                    self._on_too_slow(conn)
            case Tick(now=now, wall=wall):
                clock = self._clock
                self._now = clock.now = now
                clock.wall = wall
                self._on_tick()
            case ConnectionOpened(conn=conn, peer=peer, dialect=dialect, secure=secure):
                self._open(conn, peer, dialect, secure)
            case EofReceived(conn=conn):
                if conn in self._conns:
                    self._on_eof(conn)
            case ConnectionReset(conn=conn, protocol_error=protocol_error):
                if conn in self._conns:
                    if protocol_error:
                        self._on_protocol_error(conn)
                    else:
                        self._on_reset(conn)
            case NickClaimAnswered(claim=claim, granted=granted):
                self._on_claim_answered(claim, granted)
            case ShutdownRequested():
                if not self._shutting_down:
                    self._shutting_down = True
                    # Refusals not yet counted in the log happened before: say so before the shutdown.
                    self._log_refusals(self._refusals.report_now(self._now))
                    self._on_shutdown()
            case (
                FactsArrived()
                | ShareFailed()
                | GuestsLeased()
                | ClusterChanged()
                | BurstAnswered()
                | NodeDown()
            ):
                if not self._shutting_down:  # every connection is closed: nobody is told anything
                    self._on_cluster(event)
            case _:
                assert_never(event)
        if self._batch_conns is not None:
            self._end_batch()
        return actions

    def _start_actions(self) -> list[Action]:
        """A fresh list for the actions of one step (``receive``, or another entry point)."""
        actions: list[Action] = []
        self._actions = actions
        self._batch_conns = None  # nothing gathered is carried over, even after a failure
        return actions

    @property
    def next_wakeup(self) -> float | None:
        """When the core next needs a ``Tick`` (a paused reader may resume, a count is due), or None."""
        return self._refusals.due

    @property
    def uses_clock(self) -> bool:
        """Whether time matters to what clients see: if not, a backend need not ``Tick`` before data."""
        return False

    @property
    def connection_count(self) -> int:
        """Open connections (closing ones are no longer counted)."""
        return len(self._conns)

    # -- helpers for subclasses -----------------------------------------

    def _open(self, conn: ConnId, peer: str, dialect: DialectName, secure: bool) -> None:
        if self._shutting_down:
            self._emit(Close(conn=conn, reason=CloseReason.SHUTDOWN))
            return
        if len(self._conns) >= self.config.max_clients:
            self._log_refusals(self._refusals.refused(peer, self._now))
            self._on_refused(conn, dialect)
            self._emit(Close(conn=conn, reason=CloseReason.SERVER_FULL))
            return
        self._admitted += 1
        self._conns[conn] = self._on_open(conn, dialect, secure)
        self._on_opened(conn, peer)

    def _send(self, conns: tuple[ConnId, ...], data: bytes) -> None:
        """Queue ``data`` for open connections: one action, whatever the number of recipients.

        Empty ``data`` (a renderer's "nothing for this client") or no recipient is no send at all.

        Joined to the previous send when that went to the same recipients and
        nothing came between: the very same tuple (a sender's broadcasts), or
        the same single connection (replies).
        """
        if not data or not conns:  # the renderer has nothing for this kind of client, or nobody is left
            return
        batch_conns = self._batch_conns
        if conns is batch_conns or (len(conns) == 1 and conns == batch_conns):
            self._batch.append(data)
            return
        if batch_conns is not None:
            self._end_batch()
        self._batch_conns = conns
        self._batch = [data]

    def _end_batch(self) -> None:
        """Turn the gathered send into its action (there is one)."""
        conns, batch = self._batch_conns, self._batch
        assert conns is not None
        self._batch_conns = None
        self._actions.append(Send(conns=conns, data=batch[0] if len(batch) == 1 else b"".join(batch)))

    def _emit(self, action: Action) -> None:
        """Add any other action, after the send being gathered."""
        if self._batch_conns is not None:
            self._end_batch()
        self._actions.append(action)

    def _send_unaccounted(self, conn: ConnId, data: bytes) -> None:
        """Queue ``data`` for a connection that is not open (being refused)."""
        self._emit(Send(conns=(conn,), data=data))

    def _close(self, conn: ConnId, reason: CloseReason = CloseReason.DONE) -> None:
        """Forget an open connection; the backend flushes it, then closes it."""
        self._forget(conn)
        self._emit(Close(conn=conn, reason=reason))

    def _abort(self, conn: ConnId) -> None:
        """Forget an open connection; the backend drops its queue and closes it."""
        self._forget(conn)
        self._emit(Abort(conn=conn))

    def _forget(self, conn: ConnId) -> None:
        del self._conns[conn]

    def _log(self, level: LogLevel, message: str) -> None:
        self._emit(Log(level=level, message=message))

    # -- what subclasses define -------------------------------------------

    def _on_open(self, conn: ConnId, dialect: DialectName, secure: bool) -> S:
        """What to keep about an admitted connection while it is open (``secure``: it came over TLS)."""
        raise NotImplementedError

    def _on_opened(self, conn: ConnId, peer: str) -> None:
        """An admitted connection is in the table: greet it."""
        raise NotImplementedError

    def _on_refused(self, conn: ConnId, dialect: DialectName) -> None:
        """Say why to a connection refused for lack of room (nothing, by default)."""

    def _on_data(self, conn: ConnId, data: bytes) -> None:
        raise NotImplementedError

    def _on_messages(self, conn: ConnId, messages: tuple[bytes, ...]) -> None:
        """Whole messages (a message-framed connection); ignored by a mode that reads streams only."""

    def _on_eof(self, conn: ConnId) -> None:
        raise NotImplementedError

    def _on_reset(self, conn: ConnId) -> None:
        """The connection failed; by default, as an orderly end of stream."""
        self._on_eof(conn)

    def _on_protocol_error(self, conn: ConnId) -> None:
        """Its transport closed it for breaking the transport's protocol; by default, as a reset."""
        self._on_reset(conn)

    def _on_claim_answered(self, claim: int, granted: bool) -> None:
        """A nickname registry answered (only the chat makes claims)."""

    def _on_cluster(self, event: ClusterEvent) -> None:
        """The cluster answered or changed (only the chat shares anything)."""

    def _on_too_slow(self, conn: ConnId) -> None:
        self._log(LogLevel.INFO, f"connection {conn} dropped (too slow)")
        self._abort(conn)

    def _on_shutdown(self) -> None:
        for conn in list(self._conns):
            self._close(conn, CloseReason.SHUTDOWN)

    def _on_tick(self) -> None:
        self._log_refusals(self._refusals.report(self._now))

    def _log_refusals(self, message: str | None) -> None:
        if message is not None:
            self._log(LogLevel.WARNING, message)


class Hold(enum.IntFlag):
    """Why a connection's input gate is closed; reading is paused while anything holds it."""

    FLOOD = 1  # its token bucket is empty: the next line waits for a token
    CLAIM = 2  # a nickname claim waits for its answer: the next lines wait for it


class LineInput:
    """What one connection has sent and not yet had handled, and the gate in front of it.

    Made on the connection's first bytes (or first hold), so that an idle
    connection does not pay for it.
    """

    __slots__ = ("at_eof", "bucket", "held", "holds", "lines")

    def __init__(
        self, config: ServerConfig, now: float, *, messages: bool = False, max_line_bytes: int | None = None
    ) -> None:
        self.holds = Hold(0)  # what closes the gate now; none: lines are handled as they come
        limit = config.max_line_bytes if max_line_bytes is None else max_line_bytes
        self.lines: LineBuffer | MessageBuffer = MessageBuffer(limit) if messages else LineBuffer(limit)
        self.bucket = TokenBucket(config.rate_lines, config.rate_burst, now) if config.rate_lines else None
        # A line taken from the buffer while the bucket was empty: it goes first.
        self.held: bytes | Framing | None = None
        self.at_eof = False  # the peer's FIN came: after the last line, the connection ends


class LineSession:
    """One connection of a line-oriented server: its input, and the gate in front of it.

    Lines are handled one at a time while nothing holds the gate.  When
    something does (flood control, a nickname claim), the lines wait in the
    buffer, in order, and reading pauses; ``PauseReading`` is emitted when
    the first hold starts and ``ResumeReading`` when the last one ends.
    """

    __slots__ = ("conn", "input")
    #: Whether its input comes in whole messages (a WebSocket) rather than as a byte stream.
    message_framed = False
    #: The longest line its protocol allows, if not the server's ``max_line_bytes``.
    max_line_bytes: int | None = None

    def __init__(self, conn: ConnId) -> None:
        self.conn = conn
        self.input: LineInput | None = None  # made when first needed: idle connections stay small

    @property
    def held(self) -> bool:
        """Whether the gate is closed (and reading paused)."""
        return self.input is not None and bool(self.input.holds)


L = TypeVar("L", bound=LineSession)


class LineServerBase(ServerBase[L]):
    """A server fed with lines: framing, flood control, the input gate, end of stream.

    Lines are taken from a connection's buffer one at a time; when its token
    bucket is empty the line waits, reading pauses, and a ``Tick`` at
    ``next_wakeup`` lets it through.  No line is dropped for flooding and the
    order never changes.  Wake-up times are kept in a heap, so a loop pass
    costs nothing per paused client.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        super().__init__(config)
        # (time, conn) of flood holds that may end then; stale entries are skipped.
        self._wakeups: list[tuple[float, ConnId]] = []
        self._pumping: L | None = None  # whose line is being handled: its pump pauses reading itself

    @property
    def uses_clock(self) -> bool:
        return self.config.rate_lines > 0

    @property
    def next_wakeup(self) -> float | None:
        wakeups = self._wakeups
        while wakeups and not self._flood_held(wakeups[0][1]):
            heapq.heappop(wakeups)  # its connection left, or a tick already let it go
        refusals = self._refusals.due
        if not wakeups:
            return refusals
        return wakeups[0][0] if refusals is None else min(wakeups[0][0], refusals)

    def _flood_held(self, conn: ConnId) -> bool:
        session = self._conns.get(conn)
        return session is not None and session.input is not None and Hold.FLOOD in session.input.holds

    def _input(self, session: L) -> LineInput:
        """The connection's input, made when first needed."""
        line_input = session.input
        if line_input is None:
            line_input = session.input = LineInput(
                self.config, self._now, messages=session.message_framed, max_line_bytes=session.max_line_bytes
            )
        return line_input

    def _on_data(self, conn: ConnId, data: bytes) -> None:
        session = self._conns[conn]
        line_input = self._input(session)
        line_input.lines.feed(data)
        if not line_input.holds:
            self._pump(session, line_input, was_held=False)

    def _on_messages(self, conn: ConnId, messages: tuple[bytes, ...]) -> None:
        session = self._conns[conn]
        line_input = self._input(session)
        lines = line_input.lines
        if not isinstance(lines, MessageBuffer):  # a stream takes no messages (a backend's mistake)
            return
        lines.add(messages)
        if not line_input.holds:
            self._pump(session, line_input, was_held=False)

    def _on_eof(self, conn: ConnId) -> None:
        session = self._conns[conn]
        line_input = self._input(session)
        line_input.at_eof = True
        self._end_of_stream(line_input)
        if not line_input.holds:
            self._pump(session, line_input, was_held=False)

    def _on_reset(self, conn: ConnId) -> None:
        """The peer is gone: lines still held for it are dropped; an unheld last line is handled (v1)."""
        session = self._conns[conn]
        if session.held:
            session.input = None
            self._on_stream_end(session)
        else:
            self._on_eof(conn)

    def _on_tick(self) -> None:
        super()._on_tick()
        wakeups = self._wakeups
        now = self._now
        due = []  # taken first: a pump may push its connection back, for later
        while wakeups and wakeups[0][0] <= now:
            due.append(heapq.heappop(wakeups)[1])
        for conn in due:
            if self._flood_held(conn):  # not gone, nor let go already
                session = self._conns[conn]
                line_input = self._input(session)
                line_input.holds &= ~Hold.FLOOD
                self._pump(session, line_input, was_held=True)

    def _hold(self, session: L, why: Hold) -> None:
        """Close the gate for ``why``; reading pauses to match (by the pump, if one runs for it)."""
        line_input = self._input(session)
        was_held = bool(line_input.holds)
        line_input.holds |= why
        if not was_held and session is not self._pumping:
            self._emit(PauseReading(conn=session.conn))

    def _release(self, session: L, why: Hold) -> None:
        """``why`` (which held the gate) no longer does: handle what waited, if nothing else holds it."""
        line_input = self._input(session)
        line_input.holds &= ~why
        self._pump(session, line_input, was_held=True)

    def _pump(self, session: L, line_input: LineInput, *, was_held: bool) -> None:
        """Handle waiting lines until none is left, the gate closes, or the connection does.

        ``was_held``: whether reading was paused before; it is paused or
        resumed to match the gate when the pump stops.
        """
        conn = session.conn
        open_conns = self._conns
        bucket = line_input.bucket
        while not line_input.holds:
            item = line_input.held
            if item is None:
                item = line_input.lines.next_line()
                if item is None:
                    break
            else:
                line_input.held = None
            if bucket is not None and not bucket.try_take(self._now):
                line_input.held = item
                line_input.holds |= Hold.FLOOD
                heapq.heappush(self._wakeups, (bucket.ready_at(), conn))
                break
            pumping, self._pumping = self._pumping, session
            try:
                self._on_line(session, item)
            finally:
                self._pumping = pumping
            if conn not in open_conns:
                return
        if (line_input.holds or was_held) and self._reading_follows_gate(session, was_held=was_held):
            return  # still held: the end of the stream, if it came, waits too
        if line_input.at_eof:
            self._on_stream_end(session)

    def _reading_follows_gate(self, session: L, *, was_held: bool) -> bool:
        """Pause or resume reading if the gate closed or opened since ``was_held``; whether it is held."""
        held = session.held
        if held != was_held:
            self._emit(PauseReading(conn=session.conn) if held else ResumeReading(conn=session.conn))
        return held

    def _end_of_stream(self, line_input: LineInput) -> None:
        """The peer sent its last byte; subclasses choose what to do with a partial line."""

    def _on_line(self, session: L, line: bytes | Framing) -> None:
        raise NotImplementedError

    def _on_stream_end(self, session: L) -> None:
        """No more input will come (EOF handled, or a reset): the connection ends."""
        raise NotImplementedError
