"""The one place that drives the core: events in, actions out, the same for every backend.

A backend knows how to wait (a selector loop, threads, an event loop) and how
to move bytes; it tells the ``Driver`` what happened (accepted, received,
EOF, failed, written) and carries out the few things the driver asks of it
(``Port``).  Everything else is decided here once: building the events,
interpreting the actions, queueing output for the flush, each connection's
closing lifecycle and its deadlines, the core's timer, idle memory trimming,
and what happens when the core raises.

Transport layers (TLS, HTTP, WebSocket) are run here too, for every
backend: a connection whose listener has layers is ``PENDING`` until its
stack says ``Ready`` (a TLS handshake, a WebSocket upgrade), and only then
does the core hear of it; a page fetch never does.  Its input goes through
the stack and is pulled one event at a time, and only while the core takes
input (``Data``, ``Messages``), so a held connection costs its raw bytes.
What the layers say themselves (handshakes, pages, pongs, close frames,
close_notify) joins the connection's output in order; WebSocket frames are
built once per ``Send`` and shared (``_layers.Frames``); TLS encrypts once
per flush (``take_dirty``).  A connection without layers takes none of these
paths.

When to flush is the flush policy's decision (``_flush_policy.py``), asked
in ``flush_now``: at once when the server is idle or few connections wait,
else at most once per ``--flush-delay``, so that each connection gets fewer,
larger writes.  While a flush is held the driver's next deadline is the
hold's: a backend sleeps until then, or until input comes.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, assert_never

from sansio_chat import (
    Abort,
    Action,
    Burst,
    Close,
    CloseReason,
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    EofReceived,
    Event,
    FollowRoom,
    LeaseGuests,
    Log,
    MessagesReceived,
    OutputBacklog,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
    ServerState,
    Share,
    ShutdownRequested,
    Tick,
    UnfollowRoom,
    new_server_state,
)

from ._connection import NOTHING_PENDING, RECV_SIZE, Connection
from ._flush_policy import FlushConfig, FlushPolicy, FlushState
from ._layers import CLOSE_CODES, Frames, Layers
from ._lifecycle import SHUTDOWN_FLUSH_SECONDS, Phase, Step, Stop, StopPhase
from ._listeners import Listener, ListenerKind
from ._process import release_free_memory
from ._table import ConnectionTable, Route
from ._timers import Deadlines, IdleTrim
from .transport import (
    Data,
    Failed,
    Messages,
    PeerClosed,
    Ready,
    Served,
    Stack,
    StackState,
    TlsSetupError,
    TransportConfig,
)

if TYPE_CHECKING:
    from ._cluster_io import ClusterNode
    from ._options import ClusterOptions
    from ._watch import LinkWatcher

#: How often the connections whose reading is paused are asked for a reset.
PAUSED_PROBE_SECONDS = 1.0
#: Input a stack brings up for the core in one event, at most (as much as one read).
INPUT_BATCH_BYTES = RECV_SIZE
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
    for listener in listeners:
        if listener.page_url is not None:
            log.info("the chat's web page: %s", listener.page_url)


def _route(conn: Connection) -> Route:
    return conn.route


class Driver(Generic[C]):
    """Feeds the core with one backend's events and carries out the core's actions on it."""

    def __init__(
        self,
        config: ServerConfig,
        port: Port[C],
        log: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        *,
        transports: Mapping[ListenerKind, TransportConfig] | None = None,
        cluster: ClusterOptions | None = None,
        flush: FlushConfig | None = None,
    ) -> None:
        self.state: ServerState = new_server_state(config)
        # Every connection with a socket, pending and closing ones too.
        self.conns: ConnectionTable[C] = ConnectionTable(route=_route)
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
        # Transport layers, for the listener kinds that have them.
        self._transports = dict(transports or {})
        self._frames = Frames()
        self._sealed: list[C] = []  # TLS connections with output to encrypt at the next flush
        self._to_pull: dict[ConnId, C] = {}  # stacks with input to pull on the next pass
        self._stack_deadlines: Deadlines[C] = Deadlines()  # handshake and request-head deadlines
        self._flush = FlushPolicy(flush or FlushConfig())  # when to flush
        self._cluster_options = cluster
        self.cluster: ClusterNode | None = None  # a server of a cluster: its link, once joined

    def join_cluster(self, watcher: LinkWatcher) -> None:
        """A server of a cluster connects to it, its sockets watched by the backend (once its loop can)."""
        options = self._cluster_options
        if options is None or self.cluster is not None:
            return
        from ._cluster_io import ClusterNode  # noqa: PLC0415 - hiredis: only for a server of a cluster

        self.cluster = ClusterNode(
            options,
            tell=self._cluster_events,
            clock=self.clock,
            watcher=watcher,
            wake=self._port.wake,
            log=self._log,
        )
        self.cluster.start()

    def _cluster_events(self, events: list[Event]) -> None:
        """What the cluster tells the core, after the time (both clocks: a relayed message's
        server-time and a JOIN's time are the wall clock's); a failure is logged and the server goes on."""
        self._tick()
        for event in events:
            self._event(event)

    @property
    def config(self) -> ServerConfig:
        return self.state.config

    def new_id(self) -> ConnId:
        """An id for a new connection, never reused while the server runs."""
        return next(self._ids)

    # -- what happened: the backend tells -----------------------------------

    def open(self, conn: C, peer: str) -> None:
        """A connection was accepted: the core hears of it now, or once its layers are ready.

        It is in the table before the core hears of it, so that the welcome,
        queued in the same call, reaches it.  A connection of a listener with
        layers stays ``PENDING`` until its stack says ``Ready``.
        """
        self.conns.add(conn.id, conn)
        kind = conn.kind
        if kind.layered:
            stack = Stack(self._transports[kind], now=self.clock())
            conn.layers = Layers(stack, peer)
            self._pull(conn, conn.layers)
            return
        self._tick()
        self._conn_event(
            conn, ConnectionOpened(conn=conn.id, peer=peer, dialect=kind.dialect, secure=kind.secure)
        )

    def received(self, conn: C, data: bytes) -> None:
        """Bytes came; those of a closing connection are discarded (they were read so as not to reset)."""
        layers = conn.layers
        if layers is not None:
            self._received_below(conn, layers, data)
            return
        if conn.life.phase is not Phase.OPEN:
            return
        self._tick_for_input()
        self._conn_event(conn, DataReceived(conn=conn.id, data=data))

    def eof(self, conn: C) -> None:
        """The peer sent its FIN: nothing more is read; an open connection's core hears of it.

        Under transport layers the stack says what the FIN means (an orderly
        end, or a truncation) once what came before it has been pulled.
        """
        life = conn.life
        if life.phase is Phase.CLOSED:  # our own shutdown of the socket, seen by a reader
            return
        was_open = life.open
        step = life.eof_received()
        if step is Step.NOTHING:
            self._port.reading_changed(conn)
        layers = conn.layers
        if layers is not None:
            if self._takes_input(conn, layers):
                layers.stack.receive_eof()
                self._pull(conn, layers)
        elif was_open:
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
        phase = life.phase
        if unsent:
            if phase is Phase.OPEN:
                self._conn_event(conn, OutputBacklog(conn=conn.id, unsent=unsent))
            elif phase is Phase.PENDING and life.pause(True):  # pages not read yet: answer no more for now
                self._paused_changed(conn, True)
                self._port.reading_changed(conn)
        elif phase is Phase.CLOSING:
            if not conn.pending and not (conn.layers is not None and conn.layers.flush_due):
                self._carry_out_step(conn, life.flushed(self.clock()))  # else the next flush writes it first
        elif phase is Phase.PENDING and life.pause(False):  # its answers were read: go on
            self._paused_changed(conn, False)
            self._port.reading_changed(conn)
            self._pull_later(conn)

    def forget(self, conn: C) -> None:
        """The connection's socket is closed and nothing refers to it any more."""
        self.conns.pop(conn.id)

    @property
    def flush_due(self) -> bool:
        """Whether a flush has anything to do (output to write, or a close to move on), now or held."""
        return bool(self.dirty or self.closing or self._sealed)

    def flush_now(self) -> bool:
        """Whether to flush now: something is to do, and the flush policy lets it go.

        Asking decides: on a busy server (a flush less than ``--flush-delay``
        ago, many connections waiting) the flush is held, and the driver's
        next deadline is then the hold's, when the backend asks again.
        """
        if self.cluster is not None:
            self.cluster.flush()  # the pass's commands to Redis, whatever the policy holds back
        waiting = len(self.dirty) + len(self._sealed)
        if not (waiting or self.closing):
            return False
        policy = self._flush
        return not policy.enabled or policy.due(self.clock(), waiting=waiting)

    @property
    def flush_held(self) -> bool:
        """Whether output waits for a held flush (the backend may sleep until ``next_deadline``)."""
        return self._flush.state is FlushState.HOLDING

    def take_dirty(self) -> list[C]:
        """The connections to flush now (each once); the list starts afresh.

        Each one's ``pending`` is what to write, joined; TLS connections'
        output is encrypted here, once per flush.
        """
        dirty = self.dirty
        self.dirty = []
        if self._sealed:
            dirty += self._seal()
        return dirty

    def take_closing(self) -> list[C]:
        """The connections the core closed since the last flush: after flushing, ``written`` each
        that has nothing left unsent (the others move on when their socket drains).

        Taking them ends the flush (the flush policy counts from here).
        """
        closing = self.closing
        self.closing = []
        if self._flush.enabled:
            self._flush.flushed(self.clock())
        return closing

    # -- time ------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``run_timers`` must run next (on ``clock``), or None; a held flush's deadline counts."""
        if self._to_pull:
            return self.clock()
        at = self.state.next_wakeup
        cluster = self.cluster.next_wakeup if self.cluster is not None else None
        for other in (
            self._deadlines.next_at,
            self._trim.due_at,
            self._probe_at,
            self._stack_deadlines.next_at,
            cluster,
            self._flush.deadline,
        ):
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
        cluster = self.cluster
        if cluster is not None:
            wakeup = cluster.next_wakeup
            if wakeup is not None and wakeup <= now:
                cluster.tick(now)
        for conn in self._deadlines.pop_due(now):
            self._carry_out_step(conn, conn.life.expire(now))
        for conn in self._stack_deadlines.pop_due(now):
            self._stack_deadline(conn, now)
        if self._to_pull:
            to_pull, self._to_pull = self._to_pull, {}
            for conn in to_pull.values():
                layers = conn.layers
                if layers is not None and self._takes_input(conn, layers):
                    self._pull(conn, layers)
        if self._trim.due(now):
            release_free_memory()

    # -- the server's end ------------------------------------------------------

    def shutdown(self) -> None:
        """Tell the core (it says goodbye to everyone and closes them all); close the pending ones."""
        self._tick()
        self._event(ShutdownRequested())
        for conn in self.conns:
            if conn.life.phase is Phase.PENDING:
                self._close(conn, CloseReason.SHUTDOWN)

    def reload_certificates(self) -> None:
        """SIGHUP: read the TLS certificate and key again; new connections get them, open ones keep theirs.

        A certificate that cannot be used leaves the one in use in place, and says so on one line.
        """
        holders = {id(c.tls): c.tls for c in self._transports.values() if c.tls is not None}
        if not holders:
            self._log.info("SIGHUP: no TLS listener, nothing to reload")
        for certificates in holders.values():
            try:
                certificates.reload()
            except TlsSetupError as exc:
                self._log.warning("SIGHUP: %s; keeping the certificate in use", exc)
            else:
                self._log.info("SIGHUP: reloaded the TLS certificate %s", certificates.cert_file)

    def drain(self, stop: Stop) -> Iterator[float]:
        """The server's end: tell the core, then yield how long the backend may wait (serving on).

        It goes on while connections are left and ``stop`` says the drain
        is not over (the bound, a second signal); then whoever is left is
        dropped.  The backend has stopped accepting already.
        """
        self.shutdown()
        deadline = stop.drain(self.clock())
        if self.cluster is not None:
            self.cluster.stop()  # this node's users leave the cluster at once
        while self.conns or (self.cluster is not None and not self.cluster.stopped):
            now = self.clock()
            if stop.phase(now) is StopPhase.ENDING:
                break
            yield deadline - now
        self.end(cut_short=stop.cut_short)

    def end(self, *, cut_short: bool) -> None:
        """The drain is over: drop every connection still there, and say so if there were any."""
        if self.cluster is not None:
            self.cluster.end()
        count = 0
        for conn in self.conns:
            if not conn.life.closed:
                count += 1
                self._drop(conn)
        if count:
            why = "a second signal" if cut_short else f"still closing after {SHUTDOWN_FLUSH_SECONDS:g} s"
            self._log.info("shutdown: %s, closing %d connection%s now", why, count, "" if count == 1 else "s")

    # -- into the core -----------------------------------------------------------

    def _tick(self) -> None:
        """Tell the core the time (both clocks) before an event that may depend on it."""
        now = self._ticked = self.clock()
        self._event(Tick(now=now, wall=self.wall()))

    def _tick_for_input(self) -> None:
        """Input's time (flood control needs it): a ``Tick`` unless the last is within ``TICK_RESOLUTION``."""
        if self._timed and self.clock() - self._ticked >= TICK_RESOLUTION:
            self._tick()

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
                plain, framed, sealed = self.conns.recipients(action.conns)
                if plain:
                    self._queue(plain, action.data)
                if framed or sealed:
                    self._queue_layered(framed, sealed, action.data)
            elif isinstance(action, Log):
                self._log.log(action.level, "%s", action.message)
            elif isinstance(action, Share | FollowRoom | UnfollowRoom | LeaseGuests | Burst):
                if self.cluster is not None:
                    self.cluster.act(action)
            else:
                target = self.conns.get(action.conn)
                if target is None:
                    continue
                if isinstance(action, Close):
                    if target.life.open:  # (a pending one is the driver's to close)
                        self._close(target, action.reason)
                elif isinstance(action, Abort):
                    self._drop(target)
                elif isinstance(action, PauseReading | ResumeReading):
                    paused = isinstance(action, PauseReading)
                    if target.life.open and target.life.pause(paused):
                        self._paused_changed(target, paused)
                        self._port.reading_changed(target)
                        if not paused and target.layers is not None:
                            self._pull_later(target)  # what waited in its stack comes up now
                else:
                    assert_never(action)
        if self.dirty or self.closing or self._sealed:
            self._port.wake()

    def _queue(self, conns: Sequence[C], data: bytes) -> None:
        """Queue ``data`` (bytes for the socket) on each of ``conns``: one append per recipient.

        The hot path of a fan-out: each connection goes on the dirty list
        with its first output of the pass (``pending`` is non-empty exactly
        while it is there), and the same ``bytes`` object is shared by all.
        """
        dirty = self.dirty
        for conn in conns:
            pending = conn.pending
            if pending:
                pending.append(data)  # type: ignore[union-attr]  # non-empty: a list
            else:
                dirty.append(conn)
                conn.pending = [data]

    def _queue_layered(self, framed: list[C], sealed: list[C], data: bytes) -> None:
        """A ``Send`` to connections with layers: the frames built once, TLS left to the flush."""
        frames: bytes | None = None
        if framed:
            frames = self._frames(data)
            self._queue(framed, frames)
        for conn in sealed:
            item = data
            if conn.kind.web:
                if frames is None:
                    frames = self._frames(data)
                item = frames
            self._queue_sealed(conn, item)

    def _queue_sealed(self, conn: C, data: bytes) -> None:
        """Output for a TLS connection: kept as plaintext until the flush encrypts it all at once."""
        pending = conn.pending
        if pending:
            pending.append(data)  # type: ignore[union-attr]  # non-empty: a list
        else:
            conn.pending = [data]
        self._seal_later(conn)

    def _seal_later(self, conn: C) -> None:
        layers = conn.layers
        assert layers is not None
        if not layers.flush_due:
            layers.flush_due = True
            self._sealed.append(conn)

    def _seal(self) -> list[C]:
        """Encrypt each TLS connection's output of this pass in one go (its close_notify too, if closing)."""
        sealed, self._sealed = self._sealed, []
        ready = []
        for conn in sealed:
            layers = conn.layers
            assert layers is not None
            layers.flush_due = False
            if conn.life.closed:
                continue
            pending = conn.pending
            conn.pending = NOTHING_PENDING
            stack = layers.stack
            data = b"" if not pending else pending[0] if len(pending) == 1 else b"".join(pending)
            try:
                if conn.life.phase is Phase.CLOSING:
                    if data:
                        stack.send(data)
                    out = stack.close(layers.close_code)
                else:
                    out = stack.flush(data)
            except Exception:
                self._log.exception("connection %d: its TLS layer failed; dropping the connection", conn.id)
                if self._drop(conn):
                    self._event(ConnectionReset(conn=conn.id))
                continue
            if out:
                conn.pending = [out]
                ready.append(conn)
        return ready

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

    def _close(self, conn: C, reason: CloseReason = CloseReason.DONE) -> None:
        """The core (or the layers of a pending one) closed it: flush, then FIN (the next flush does).

        A transport's last words (a close frame, close_notify) are the last
        output, so they go out before the FIN.
        """
        life = conn.life
        if life.phase is not Phase.OPEN and life.phase is not Phase.PENDING:
            return
        was_paused = life.paused
        self._paused.pop(conn.id, None)
        now = self.clock()
        life.close(now)
        assert life.deadline is not None
        self._deadlines.push(life.deadline, conn)
        if was_paused:  # read again, to discard
            self._port.reading_changed(conn)
        layers = conn.layers
        if layers is not None:
            layers.close_code = CLOSE_CODES[reason]
            if conn.route is Route.SEALED:
                self._seal_later(conn)  # the flush encrypts what is queued, then close_notify
            else:
                last = layers.stack.close(layers.close_code)
                if last:
                    self._queue((conn,), last)  # the close frame: the last output
        self.closing.append(conn)  # the flush moves it on, once what is pending is written
        self._port.wake()

    def _drop(self, conn: C) -> bool:
        """Close it now, discarding its output; True if it was open (the core must hear of it)."""
        was_open = conn.life.abort()
        self._paused.pop(conn.id, None)
        conn.pending = NOTHING_PENDING
        self._port.drop(conn)
        return was_open

    # -- transport layers ----------------------------------------------------------

    def _takes_input(self, conn: C, layers: Layers) -> bool:
        """Whether the stack still reads: the connection is pending or open, and the stack not ended."""
        phase = conn.life.phase
        if phase is not Phase.OPEN and phase is not Phase.PENDING:
            return False  # closing: its input is read only to be discarded
        state = layers.stack.state
        return state is StackState.PENDING or state is StackState.OPEN

    def _received_below(self, conn: C, layers: Layers, data: bytes) -> None:
        """Bytes for a connection with layers: into its stack, then pulled as far as the core takes them."""
        if not self._takes_input(conn, layers):
            return
        stack = layers.stack
        stack.tick(self.clock())
        stack.receive_data(data)
        self._pull(conn, layers)

    def _pull_later(self, conn: C) -> None:
        """Pull this stack again on the next pass (run_timers), where the rest of its input waits."""
        if conn.id not in self._to_pull:
            self._to_pull[conn.id] = conn
            self._port.wake()

    def _pull(self, conn: C, layers: Layers, *, timer: bool = False) -> None:
        """Take the stack's events one at a time while the connection takes input.

        An open connection is pulled until the core pauses it (the rest stays
        raw in the stack until it resumes).  What comes up for the core is
        handed over together, as a read's bytes are: ``DataReceived`` up to
        ``INPUT_BATCH_BYTES``, or ``MessagesReceived`` with the messages one
        pull of a WebSocket parsed (bounded alike, by the stack); the core
        answers a burst with joined sends, and holds no more than that when
        it pauses.  A pending one answers one page request per
        pass, and none while its answers wait to be read, so that a client
        pipelining requests without reading is never more than one answer
        ahead.  A stack's ``timer`` running out is pulled in any case.
        """
        life = conn.life
        stack = layers.stack
        sealed = conn.route is Route.SEALED
        batch: list[bytes] = []  # Data payloads, joined up to a read's worth
        size = 0
        while (life.phase is Phase.OPEN or life.phase is Phase.PENDING) and (timer or not life.paused):
            try:
                event = stack.next_event()
                if not sealed and stack.has_output:  # before the core's answer: a 101, a pong, a page
                    self._queue((conn,), stack.data_to_send())
            except Exception:
                self._log.exception("connection %d: its transport layers failed; dropping it", conn.id)
                self.lost(conn)
                return
            if event is None:
                break
            if isinstance(
                event, Messages
            ):  # what one read brought, parsed in one go and bounded by the stack
                self._input(conn, event.texts, messages=True)
                continue
            if isinstance(event, Data):
                batch.append(event.data)
            else:
                if batch:  # what came before it goes first
                    self._input(conn, batch)
                    batch, size = [], 0
                self._transport_event(conn, layers, event)
                if isinstance(event, Served):
                    if not life.paused and stack.state is StackState.PENDING:
                        self._pull_later(conn)
                    break
                continue
            size += len(batch[-1])
            if size >= INPUT_BATCH_BYTES:
                self._input(conn, batch)  # the core may pause it now
                batch, size = [], 0
        if batch:
            self._input(conn, batch)
        if life.closed:
            return
        if sealed and stack.has_output:  # TLS records of the handshake, say: out at the next flush
            self._seal_later(conn)
        at = stack.next_deadline
        if at is not None and at != layers.deadline:
            layers.deadline = at
            self._stack_deadlines.push(at, conn)
            self._port.wake()  # a new timer: a backend asleep until its last deadline must look again
        elif self.dirty or self._sealed:
            self._port.wake()

    def _input(self, conn: C, batch: Sequence[bytes], *, messages: bool = False) -> None:
        """What the stack brought up for the core, in one event: a read's bytes, or whole messages."""
        if not conn.life.open:
            return
        self._tick_for_input()
        if messages:
            self._conn_event(conn, MessagesReceived(conn=conn.id, messages=tuple(batch)))
        else:
            data = batch[0] if len(batch) == 1 else b"".join(batch)
            self._conn_event(conn, DataReceived(conn=conn.id, data=data))

    def _transport_event(self, conn: C, layers: Layers, event: Ready | Served | PeerClosed | Failed) -> None:
        """What one event of a stack, other than input for the core, means for the connection."""
        life = conn.life
        if isinstance(event, Ready):
            if life.opened():
                self._paused_changed(conn, False)
                self._port.reading_changed(conn)
            kind = conn.kind
            self._tick()
            opened = ConnectionOpened(
                conn=conn.id, peer=layers.peer, dialect=kind.dialect, secure=event.secure
            )
            self._conn_event(conn, opened)
        elif isinstance(event, Served):
            self._log.debug("connection %d: %s %s: %d", conn.id, event.method, event.target, event.status)
        elif isinstance(event, PeerClosed):
            if life.open:
                self._conn_event(conn, EofReceived(conn=conn.id))
            else:
                self._close(conn)
        elif isinstance(event, Failed):
            self._log.debug("connection %d: %s", conn.id, event.reason)
            was_open = life.open
            self._close(conn)  # its last words (an alert, an error page, a close frame) go out before the FIN
            if was_open:
                self._event(ConnectionReset(conn=conn.id, protocol_error=event.protocol_error))
        else:
            assert_never(event)

    def _stack_deadline(self, conn: C, now: float) -> None:
        """A stack's timer (a handshake, a request head) may have run out: let it say so."""
        layers = conn.layers
        if layers is None or not self._takes_input(conn, layers):
            return
        at = layers.stack.next_deadline
        if at is None:
            return
        if at > now:  # an older entry: the timer moved on
            layers.deadline = at
            self._stack_deadlines.push(at, conn)
            return
        layers.deadline = None
        layers.stack.tick(now)
        self._pull(conn, layers, timer=True)

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
