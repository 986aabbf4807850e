"""The asyncio backend: one ``BufferedProtocol`` per client, writes coalesced once per loop pass.

Protocol callbacks feed the core through the shared ``CoreDriver`` (reads land
in one shared buffer and are copied out at their own size); the sink
only queues.  A send appends the core's shared ``bytes`` to each recipient's
output list, and the first append makes the connection dirty; one callback
per loop pass (scheduled with ``call_soon`` at most once) hands each dirty
connection's output to its transport in a single ``write``.  The output is a
plain list rather than ``OutputQueue``: the transport buffers what the kernel
does not take, so there is no partly sent buffer to resume, and a list append
is the cheapest thing the per-recipient loop can do.  Set
``SANSIO_CHAT_UVLOOP=1`` to run on uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from sansio_chat import ConnId

from ._common import (
    CLOSE_FLUSH_SECONDS,
    LINGER_SECONDS,
    LISTEN_BACKLOG,
    RECV_SIZE,
    SHUTDOWN_FLUSH_SECONDS,
    TRIM_AFTER_IDLE_SECONDS,
    CoreDriver,
    ServeOptions,
    announce,
    configure_client,
    format_address,
    log,
    open_listener,
    raise_open_files_limit,
    release_free_memory,
)
from ._table import ConnectionTable

#: Set to ``1`` to run the event loop on uvloop (when it is importable).
UVLOOP_ENV = "SANSIO_CHAT_UVLOOP"

#: OS errors that are a client's ordinary misfortune, logged at debug level only.
_ORDINARY_ERRNOS = frozenset(
    {errno.ENOTCONN, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EPROTO}
)


class _State(enum.Enum):
    OPEN = "open"  # the core knows it: its input goes to the core
    CLOSING = "closing"  # the core closed it: what is queued still goes out, then the FIN
    LINGERING = "lingering"  # the FIN is with the transport: read and discard until EOF or linger ends
    CLOSED = "closed"  # aborted or lost: only connection_lost is left to come


class _Connection(asyncio.BufferedProtocol):
    """One client: its transport, its pending output and where its close has got to.

    Backlog reporting.  ``transport.write`` hands the kernel what it takes at
    once and keeps the rest in the transport's buffer, which drains later on
    its own.  What the transport still holds right after a write is what the
    client failed to take: a non-zero backlog is reported to the core, which
    judges the slow-consumer rule on it.  A write taken in full needs no
    report, so a fast fan-out costs no event per write.
    """

    __slots__ = (
        "close_by",
        "conn",
        "linger",
        "out",
        "paused",
        "peer_eof",
        "server",
        "state",
        "transport",
        "write_paused",
    )

    transport: asyncio.Transport

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.conn: ConnId = 0
        self.state = _State.OPEN
        self.out: list[bytes] = []  # queued for the next flush; non-empty <=> in the dirty list
        self.paused = False  # the core paused our reading (flood control)
        self.peer_eof = False  # the client sent its FIN: nothing more to read
        self.linger: asyncio.TimerHandle | None = None
        self.close_by = 0.0  # closing: loop time by which it is closed anyway
        self.write_paused = False  # the transport holds bytes the kernel has not taken

    # -- transport callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=0, low=0)  # resume_writing <=> buffer empty
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                configure_client(sock)
            except OSError as exc:
                log.debug("cannot configure a client socket: %s", exc)
        server = self.server
        self.conn = server.driver.new_conn_id()
        server.conns.add(self.conn, self)
        server.driver.opened(self.conn, format_address(transport.get_extra_info("peername")))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.read_buffer  # shared: each read is handed on before the next one

    def buffer_updated(self, nbytes: int) -> None:
        if self.state is _State.OPEN:
            self.server.driver.received(self.conn, self.server.read_buffer[:nbytes].tobytes())
        # closing: input is read only so that closing sends no RST; it is discarded

    def eof_received(self) -> bool:
        if not self.peer_eof:
            self.peer_eof = True
            if self.state is _State.OPEN:
                self.server.driver.eof(self.conn)
            elif self.state is _State.LINGERING:
                self.transport.close()  # lingering is over: the client has read our FIN
        return True  # keep the transport open: the replies still have to go out

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.state is _State.OPEN
        self.state = _State.CLOSED
        self.server.forget(self)
        if was_open:
            if exc is not None:
                log.debug("connection %d lost: %s", self.conn, exc)
            self.server.driver.reset(self.conn)

    def pause_writing(self) -> None:
        # A write left bytes in the transport's buffer (limits are 0).
        self.write_paused = True

    def resume_writing(self) -> None:
        # The transport's buffer has just run empty (limits are 0).
        self.write_paused = False
        if self.state is _State.LINGERING:
            self._arm_linger()  # the FIN goes out now: linger from here

    # -- what the server does to it ------------------------------------------

    def send_fin(self) -> None:
        """Closing, with everything handed to the transport: the FIN goes after it."""
        transport = self.transport
        if self.state is not _State.CLOSING or transport.is_closing():
            return
        self.state = _State.LINGERING
        if self.peer_eof or not transport.can_write_eof():
            transport.close()  # nothing left to read: close once the buffer is out
        else:
            transport.write_eof()  # the transport sends the FIN after its buffer
        self.close_by = self.server.loop.time() + CLOSE_FLUSH_SECONDS
        self._arm_linger()

    def _arm_linger(self) -> None:
        if self.linger is not None:
            self.linger.cancel()
        self.linger = self.server.loop.call_later(LINGER_SECONDS, self._linger_expired)

    def _linger_expired(self) -> None:
        self.linger = None
        transport = self.transport
        size = transport.get_write_buffer_size()
        if not size:
            transport.close()  # flushed, FIN sent, lingered: done
        elif self.server.loop.time() < self.close_by:
            self._arm_linger()  # still taking its last bytes: wait on
        else:
            transport.abort()  # it would not take them in time: what is left cannot be delivered


class _Server:
    """The action sink, the per-pass flush, the flood-control timer and shutdown."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ServeOptions) -> None:
        self.loop = loop
        self.driver = CoreDriver(options, self)
        # Every read lands here, then is copied out at its own size.  A plain Protocol
        # would get a fresh bytes object per read, allocated at the transport's full
        # read size (256 KiB) and shrunk: past glibc's mmap threshold, that is an
        # mmap, mremap and munmap per read.
        self.read_buffer = memoryview(bytearray(RECV_SIZE))
        self.conns: ConnectionTable[_Connection] = ConnectionTable()  # live transports, closing ones too
        self._dirty: list[_Connection] = []  # got output since the last pass
        self._closing: list[_Connection] = []  # closed by the core since the last pass
        self._pass_scheduled = False
        self._wakeup: asyncio.Handle | None = None
        self._wakeup_at = 0.0  # when the armed _wakeup fires, on the loop's clock
        self.stop_requested: asyncio.Future[None] = loop.create_future()
        self._stopping = False
        self._all_closed = asyncio.Event()
        self._last_pass = 0.0  # loop time of the last pass
        self._trim: asyncio.TimerHandle | None = None

    def new_connection(self) -> _Connection:
        return _Connection(self)

    # -- ActionSink ------------------------------------------------------------

    def send(self, conns: tuple[ConnId, ...], data: bytes) -> None:
        # The hot loop: one append per recipient.
        dirty = self._dirty
        for c in self.conns.recipients(conns):
            out = c.out
            if not out:
                dirty.append(c)
            out.append(data)
        self._schedule_pass()

    def close(self, conn: ConnId) -> None:
        c = self.conns.get(conn)
        if c is None or c.state is not _State.OPEN:
            return
        c.state = _State.CLOSING
        if c.paused:
            c.paused = False
            if not c.peer_eof:
                c.transport.resume_reading()  # read and discard while lingering
        self._closing.append(c)
        self._schedule_pass()

    def abort(self, conn: ConnId) -> None:
        c = self.conns.get(conn)
        if c is None or c.state is _State.CLOSED:
            return
        c.state = _State.CLOSED
        c.out.clear()
        c.transport.abort()  # connection_lost follows and forgets it

    def pause_reading(self, conn: ConnId) -> None:
        c = self.conns.get(conn)
        if c is None or c.state is not _State.OPEN or c.paused:
            return
        c.paused = True
        if not c.peer_eof:  # after EOF the transport reads no more (and resuming would re-read the EOF)
            c.transport.pause_reading()
        self._schedule_pass()  # the core now wants a wakeup: the pass arms it

    def resume_reading(self, conn: ConnId) -> None:
        c = self.conns.get(conn)
        if c is None or c.state is not _State.OPEN or not c.paused:
            return
        c.paused = False
        if not c.peer_eof:
            c.transport.resume_reading()

    # -- the per-pass work -------------------------------------------------------

    def _schedule_pass(self) -> None:
        if not self._pass_scheduled:
            self._pass_scheduled = True
            self.loop.call_soon(self._run_pass)

    def _run_pass(self) -> None:
        """Flush every dirty connection once, FIN the closed ones, arm the flood and idle timers."""
        self._pass_scheduled = False
        self._last_pass = self.loop.time()
        if self._trim is None:
            self._trim = self.loop.call_later(TRIM_AFTER_IDLE_SECONDS, self._trim_when_idle)
        if self._dirty:
            self._flush()
        closing = self._closing
        if closing:
            self._closing = []
            for c in closing:
                c.send_fin()
        self._arm_wakeup()

    def _flush(self) -> None:
        """Hand each dirty connection's queued output to its transport in one write.

        Inlined over the dirty list rather than a method per connection: this
        loop runs once per recipient per pass, the costliest place of a fan-out.
        """
        dirty, self._dirty = self._dirty, []
        opened, closing = _State.OPEN, _State.CLOSING
        for c in dirty:
            out = c.out
            data = b"".join(out)  # one item: that very object, not a copy
            out.clear()
            state = c.state
            # Closed or lingering: nothing more can go out (the core sends nothing after a Close).
            if state is opened or state is closing:
                try:
                    c.transport.write(data)
                except RuntimeError:  # uvloop: a write error closed it; connection_lost follows
                    continue
                # Only a write the kernel did not take in full pauses writing: a backlog to
                # report (for open connections: the core has forgotten the closing ones).
                if c.write_paused and c.state is opened:
                    self.driver.backlog(c.conn, c.transport.get_write_buffer_size())

    def _arm_wakeup(self) -> None:
        # The core wants a tick earlier only after it paused a reader, and every
        # pause_reading schedules a pass; the timer re-arms itself after ticking.
        delay = self.driver.seconds_to_wakeup()
        if delay is None:
            return
        when = self.loop.time() + delay
        if self._wakeup is not None:
            if self._wakeup_at <= when:
                return
            self._wakeup.cancel()
        self._wakeup_at = when  # not handle.when(): uvloop's handle for a due time has none
        self._wakeup = self.loop.call_at(when, self._on_wakeup)

    def _trim_when_idle(self) -> None:
        """A quiet moment after some work: hand freed memory back to the OS."""
        idle = self.loop.time() - self._last_pass
        if idle < TRIM_AFTER_IDLE_SECONDS:
            self._trim = self.loop.call_later(TRIM_AFTER_IDLE_SECONDS - idle, self._trim_when_idle)
            return
        self._trim = None
        release_free_memory()

    def _on_wakeup(self) -> None:
        self._wakeup = None
        self.driver.tick()
        self._arm_wakeup()

    # -- endings -------------------------------------------------------------------

    def forget(self, c: _Connection) -> None:
        """A transport is gone: drop everything about it."""
        self.conns.pop(c.conn)
        c.out.clear()
        if c.linger is not None:
            c.linger.cancel()
            c.linger = None
        if self._stopping and not self.conns:
            self._all_closed.set()

    def on_signal(self, signum: int) -> None:
        if not self.stop_requested.done():
            log.debug("received %s", signal.Signals(signum).name)
            self.stop_requested.set_result(None)
        else:
            log.warning("received %s again: closing all connections now", signal.Signals(signum).name)
            self.abort_all()
            self._all_closed.set()

    async def shut_down(self, listening: asyncio.AbstractServer) -> None:
        """Tell everyone, stop accepting, let the closes finish for a while, abort the rest."""
        self._stopping = True
        self.driver.shutdown()
        listening.close()
        if self.conns:
            try:
                await asyncio.wait_for(self._all_closed.wait(), SHUTDOWN_FLUSH_SECONDS)
            except TimeoutError:
                log.warning(
                    "%d connections still closing after %ss: aborting them",
                    len(self.conns),
                    SHUTDOWN_FLUSH_SECONDS,
                )
        self.abort_all()
        await asyncio.sleep(0)  # let the aborted transports call connection_lost

    def abort_all(self) -> None:
        for c in self.conns:
            if c.state is not _State.CLOSED:
                c.state = _State.CLOSED
                c.out.clear()
                c.transport.abort()


class _LoopErrors:
    """The loop's exception handler: ordinary network errors without a traceback.

    Anything that is not an OS error is a bug and is logged as asyncio would.
    Other OS errors (EMFILE on accept, say) are warnings, at most one per
    ``REPEAT_SECONDS``: asyncio retries a failing ``accept`` in a tight loop
    and reports every attempt.
    """

    REPEAT_SECONDS = 5.0

    def __init__(self) -> None:
        self._quiet_until = float("-inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, OSError):
            loop.default_exception_handler(context)
            return
        level = logging.DEBUG
        ordinary = isinstance(exc, ConnectionError | TimeoutError) or exc.errno in _ORDINARY_ERRNOS
        if not ordinary and loop.time() >= self._quiet_until:
            self._quiet_until = loop.time() + self.REPEAT_SECONDS
            level = logging.WARNING
        log.log(level, "%s: %s", context.get("message"), exc)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if os.environ.get(UVLOOP_ENV) != "1":
        return None
    try:
        import uvloop  # noqa: PLC0415 - optional, and only when asked for
    except ImportError:
        log.warning("%s=1 but uvloop is not installed: using the standard event loop", UVLOOP_ENV)
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(options: ServeOptions, listener: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_LoopErrors())
    server = _Server(loop, options)
    listening = await loop.create_server(
        server.new_connection, sock=listener, backlog=LISTEN_BACKLOG, start_serving=False
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.on_signal, signum)
    # Only now, with the signal handlers in place, may a supervisor see us ready.
    announce(listener, "asyncio", options.config)
    if type(loop).__module__.startswith("uvloop"):
        log.info("event loop: uvloop")
    await listening.start_serving()
    await server.stop_requested
    await server.shut_down(listening)
    return 0


def serve(options: ServeOptions) -> int:
    """Run the server on an asyncio event loop until SIGINT or SIGTERM; return the exit status."""
    options = replace(options, config=raise_open_files_limit(options.config))
    listener = open_listener(options.host, options.port)
    listener.setblocking(False)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_serve(options, listener))
    finally:
        listener.close()
