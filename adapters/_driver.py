"""The one place that drives the core: events in, actions out, the same for every backend.

A backend knows how to wait (a selector loop, threads, an event loop) and how
to move bytes; it tells the ``Driver`` what happened (accepted, received,
EOF, failed, written) and carries out the few things the driver asks of it
(``Port``).  Everything else is decided here once: building the events,
interpreting the actions, queueing output for the flush, each connection's
closing lifecycle and its deadlines, the core's timer, idle memory trimming,
and what happens when the core raises.

Failure isolation: an exception raised by the core while it handles one
connection's event costs that connection only.  It is logged at ERROR with
its traceback, the connection is dropped, and the core is told of a reset,
so that the others hear of it as of any reset.  An exception on a ``Tick``
or on ``ShutdownRequested`` is logged and the server goes on.

The driver is not thread-safe: the threads backend holds its lock around
every call, and the ``Port`` methods are called with that lock held.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar, assert_never

from sansio_chat import (
    Abort,
    Action,
    Close,
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    EofReceived,
    Event,
    Log,
    OutputBacklog,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
    ServerState,
    ShutdownRequested,
    Tick,
    new_server_state,
)

from ._connection import NOTHING_PENDING, Connection
from ._lifecycle import SHUTDOWN_FLUSH_SECONDS, Phase, Step, Stop, StopPhase
from ._listeners import Listener
from ._process import release_free_memory
from ._table import ConnectionTable
from ._timers import Deadlines, IdleTrim

#: How often the connections whose reading is paused are asked for a reset.
PAUSED_PROBE_SECONDS = 1.0
#: Reads within this long of the last ``Tick`` share it: the core's time is exact to a millisecond
#: (what IRC's server-time shows), and a burst of reads does not cost a ``Tick`` each.
TICK_RESOLUTION = 0.001

C = TypeVar("C", bound=Connection)
C_contra = TypeVar("C_contra", bound=Connection, contravariant=True)


class Port(Protocol[C_contra]):
    """What the driver asks of a backend; each call concerns a connection still in the table."""

    def wake(self) -> None:
        """Connections are on the dirty list: make sure a flush comes soon (soon enough: this pass)."""

    def reading_changed(self, conn: C_contra) -> None:
        """``conn.life.reading`` may have changed: start or stop reading the socket accordingly.

        Flood control paused or resumed it (the core's ``next_wakeup`` may
        have moved: re-arm the timer), the core closed it (a paused one is
        read again, to discard), or the peer's FIN came (stop reading).
        """

    def send_fin(self, conn: C_contra) -> bool:
        """Everything is out: half-close (``shutdown(SHUT_WR)``); False if the socket failed."""

    def close(self, conn: C_contra) -> None:
        """Everything is out and the peer is done: close the socket; ``forget`` it once it is gone."""

    def drop(self, conn: C_contra) -> None:
        """Close the socket now, discarding what is queued; ``forget`` it once it is gone.

        May come more than once for the same connection (a failed send
        after an abort, say): later calls do nothing.
        """

    def socket_error(self, conn: C_contra) -> OSError | None:
        """The error the socket holds (a reset, say), if any; the check must not read any input.

        Asked of connections whose reading is paused: nothing else would
        notice that their peer is gone until reading resumes.
        """


def announce(listeners: list[Listener], backend: str, config: ServerConfig, log: logging.Logger) -> None:
    """The startup lines, one per listener, naming the address really bound, the backend and the mode.

    A supervisor (or the test suite) may take them as "ready": log them only
    once the signal handlers are in place.
    """
    for listener in listeners:
        log.info("listening on %s (backend %s, mode %s)", listener, backend, config.mode.value)


class Driver(Generic[C]):
    """Feeds the core with one backend's events and carries out the core's actions on it."""

    def __init__(
        self,
        config: ServerConfig,
        port: Port[C],
        log: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.state: ServerState = new_server_state(config)
        self.conns: ConnectionTable[C] = ConnectionTable()  # every connection with a socket, closing ones too
        self.dirty: list[C] = []  # connections with pending output, for the next flush
        self.closing: list[C] = []  # connections the core closed since the last flush
        self.clock = clock
        self.wall = wall  # what clients are shown (IRC's server-time); deadlines are on ``clock``
        self._port = port
        self._log = log
        self._timed = self.state.uses_clock
        self._ticked = float("-inf")  # when the core was last told the time
        self._deadlines: Deadlines[C] = Deadlines()  # closing connections' deadlines
        self._paused: dict[ConnId, C] = {}  # open connections whose reading the core paused
        self._probe_at: float | None = None  # when the paused ones are next checked for a reset
        self._trim = IdleTrim()
        self._ids: Iterator[ConnId] = itertools.count(1)

    @property
    def config(self) -> ServerConfig:
        return self.state.config

    def new_id(self) -> ConnId:
        """An id for a new connection, never reused while the server runs."""
        return next(self._ids)

    # -- what happened: the backend tells -----------------------------------

    def open(self, conn: C, peer: str) -> None:
        """A connection is ready for the core (accepted; with TLS, after the handshake).

        It is in the table before the core hears of it, so that the welcome,
        queued in the same call, reaches it.
        """
        self.conns.add(conn.id, conn)
        self._tick()
        kind = conn.kind
        self._conn_event(
            conn, ConnectionOpened(conn=conn.id, peer=peer, dialect=kind.dialect, secure=kind.secure)
        )

    def received(self, conn: C, data: bytes) -> None:
        """Bytes came; those of a closing connection are discarded (they were read so as not to reset)."""
        if conn.life.phase is not Phase.OPEN:
            return
        if self._timed and self.clock() - self._ticked >= TICK_RESOLUTION:
            self._tick()
        self._conn_event(conn, DataReceived(conn=conn.id, data=data))

    def eof(self, conn: C) -> None:
        """The peer sent its FIN: nothing more is read; an open connection's core hears of it."""
        life = conn.life
        if life.phase is Phase.CLOSED:  # our own shutdown of the socket, seen by a reader
            return
        was_open = life.open
        step = life.eof_received()
        if step is Step.NOTHING:
            self._port.reading_changed(conn)
        if was_open:
            self._conn_event(conn, EofReceived(conn=conn.id))
        self._carry_out_step(conn, step)

    def lost(self, conn: C, exc: BaseException | None = None) -> None:
        """The socket failed (reset, broken pipe) or is gone: drop it; the core hears of a reset."""
        if conn.life.closed:
            return
        if exc is not None:
            self._log.debug("connection %d: %s", conn.id, exc)
        was_open = self._drop(conn)
        if was_open:
            self._event(ConnectionReset(conn=conn.id))

    def written(self, conn: C, unsent: int) -> None:
        """After a write attempt: ``unsent`` bytes are still held for ``conn`` (0: the kernel took all).

        What the kernel did not take goes to the core as a backlog (it judges
        slow consumers on it); a closing connection with nothing left moves
        on to its FIN.  Skipping the call is fine when ``unsent`` is 0 and the
        connection is open: that is the fast fan-out's common case.
        """
        life = conn.life
        if unsent:
            if life.phase is Phase.OPEN:
                self._conn_event(conn, OutputBacklog(conn=conn.id, unsent=unsent))
        elif life.phase is Phase.CLOSING and not conn.pending:  # pending: the next flush writes it first
            self._carry_out_step(conn, life.flushed(self.clock()))

    def forget(self, conn: C) -> None:
        """The connection's socket is closed and nothing refers to it any more."""
        self.conns.pop(conn.id)

    def take_dirty(self) -> list[C]:
        """The connections to flush now (each once); the list starts afresh."""
        dirty = self.dirty
        self.dirty = []
        return dirty

    def take_closing(self) -> list[C]:
        """The connections the core closed since the last flush: after flushing, ``written`` each
        that has nothing left unsent (the others move on when their socket drains)."""
        closing = self.closing
        self.closing = []
        return closing

    # -- time ------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``run_timers`` must run next (on ``clock``), or None."""
        at = self.state.next_wakeup
        for other in (self._deadlines.next_at, self._trim.due_at, self._probe_at):
            if other is not None and (at is None or other < at):
                at = other
        return at

    def seconds_to_deadline(self) -> float | None:
        at = self.next_deadline()
        return None if at is None else max(0.0, at - self.clock())

    def run_timers(self, *, worked: bool) -> None:
        """Whatever is due: the core's tick, closing connections' deadlines, a memory trim.

        ``worked``: the backend did some work since the last call (memory is
        trimmed only after a moment without any).
        """
        now = self.clock()
        if worked:
            self._trim.worked(now)
        if self._probe_at is not None and self._probe_at <= now:  # first: a gone peer's lines stay held
            self._probe_paused(now)
        wakeup = self.state.next_wakeup
        if wakeup is not None and wakeup <= now:
            self._ticked = now
            self._event(Tick(now=now, wall=self.wall()))
        for conn in self._deadlines.pop_due(now):
            self._carry_out_step(conn, conn.life.expire(now))
        if self._trim.due(now):
            release_free_memory()

    # -- the server's end ------------------------------------------------------

    def shutdown(self) -> None:
        """Tell the core (it says goodbye to everyone and closes them all)."""
        self._tick()
        self._event(ShutdownRequested())

    def drain(self, stop: Stop) -> Iterator[float]:
        """The server's end: tell the core, then yield how long the backend may wait (serving on).

        It goes on while connections are left and ``stop`` says the drain
        is not over (the bound, a second signal); then whoever is left is
        dropped.  The backend has stopped accepting already.
        """
        self.shutdown()
        deadline = stop.drain(self.clock())
        while self.conns:
            now = self.clock()
            if stop.phase(now) is StopPhase.ENDING:
                break
            yield deadline - now
        self.end(cut_short=stop.cut_short)

    def end(self, *, cut_short: bool) -> None:
        """The drain is over: drop every connection still there, and say so if there were any."""
        count = 0
        for conn in self.conns:
            if not conn.life.closed:
                count += 1
                self._drop(conn)
        if count:
            why = "a second signal" if cut_short else f"still closing after {SHUTDOWN_FLUSH_SECONDS:g} s"
            self._log.info("shutdown: %s, closing %d connections now", why, count)

    # -- into the core -----------------------------------------------------------

    def _tick(self) -> None:
        """Tell the core the time (both clocks) before an event that may depend on it."""
        now = self._ticked = self.clock()
        self._event(Tick(now=now, wall=self.wall()))

    def _event(self, event: Event) -> None:
        """An event whose failure costs no connection: log it and go on."""
        try:
            actions = self.state.receive(event)
        except Exception:
            self._log.exception("the core failed on %s; going on", type(event).__name__)
            return
        self._carry_out(actions)

    def _conn_event(self, conn: C, event: Event) -> None:
        """An event about ``conn``: if the core fails on it, ``conn`` alone pays."""
        try:
            actions = self.state.receive(event)
        except Exception:
            self._log.exception(
                "connection %d: the core failed on %s; dropping the connection", conn.id, type(event).__name__
            )
            if self._drop(conn):
                self._event(ConnectionReset(conn=conn.id))
            return
        self._carry_out(actions)

    # -- out of the core ---------------------------------------------------------

    def _carry_out(self, actions: list[Action]) -> None:
        """The core's actions, in order; ``Send`` only queues (the hot path: one append per recipient)."""
        for action in actions:
            if isinstance(action, Send):
                data = action.data
                dirty = self.dirty
                for conn in self.conns.recipients(action.conns):
                    pending = conn.pending
                    if pending:
                        pending.append(data)  # type: ignore[union-attr]  # non-empty: a list
                    else:
                        dirty.append(conn)
                        conn.pending = [data]
            elif isinstance(action, Log):
                self._log.log(action.level, "%s", action.message)
            else:
                target = self.conns.get(action.conn)
                if target is None:
                    continue
                if isinstance(action, Close):
                    self._close(target)
                elif isinstance(action, Abort):
                    self._drop(target)
                elif isinstance(action, PauseReading | ResumeReading):
                    paused = isinstance(action, PauseReading)
                    if target.life.pause(paused):
                        self._paused_changed(target, paused)
                        self._port.reading_changed(target)
                else:
                    assert_never(action)
        if self.dirty or self.closing:
            self._port.wake()

    def _paused_changed(self, conn: C, paused: bool) -> None:
        """Keep the paused connections, to be checked for a reset now and then."""
        if not paused:
            self._paused.pop(conn.id, None)
            return
        self._paused[conn.id] = conn
        if self._probe_at is None:
            self._probe_at = self.clock() + PAUSED_PROBE_SECONDS

    def _probe_paused(self, now: float) -> None:
        """A paused connection is not read, so its peer's reset would go unseen: ask the sockets.

        Lines held for a client that reset are dropped at the reset (the
        peer is gone); within ``PAUSED_PROBE_SECONDS`` of it, not when its
        reading would have resumed, minutes later for a flooder.
        """
        for conn in list(self._paused.values()):
            error = self._port.socket_error(conn)
            if error is not None:
                self.lost(conn, error)
        self._probe_at = now + PAUSED_PROBE_SECONDS if self._paused else None

    def _close(self, conn: C) -> None:
        """The core closed it: flush, then FIN (the next flush takes it from there)."""
        life = conn.life
        if not life.open:
            return
        was_paused = life.paused
        self._paused.pop(conn.id, None)
        now = self.clock()
        life.close(now)
        assert life.deadline is not None
        self._deadlines.push(life.deadline, conn)
        if was_paused:  # read again, to discard
            self._port.reading_changed(conn)
        self.closing.append(conn)  # the flush moves it on, once what is pending is written

    def _drop(self, conn: C) -> bool:
        """Close it now, discarding its output; True if it was open (the core must hear of it)."""
        was_open = conn.life.abort()
        self._paused.pop(conn.id, None)
        conn.pending = NOTHING_PENDING
        self._port.drop(conn)
        return was_open

    def _carry_out_step(self, conn: C, step: Step) -> None:
        if step is Step.NOTHING:
            return
        if step is Step.SEND_FIN:
            if self._port.send_fin(conn):
                assert conn.life.deadline is not None
                self._deadlines.push(conn.life.deadline, conn)
            else:
                self._drop(conn)
        elif step is Step.CLOSE:
            self._port.close(conn)
        elif step is Step.DROP:
            self._log.debug("connection %d: dropped at its close deadline", conn.id)
            conn.pending = NOTHING_PENDING
            self._port.drop(conn)
        else:
            assert_never(step)
