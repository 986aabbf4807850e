"""The asyncio backend: one ``BufferedProtocol`` per client, writes coalesced once per loop pass.

Protocol callbacks tell the shared driver what happened (reads land in one
shared buffer and are copied out at their own size).  The driver queues the
core's output on each recipient; the first output of a pass schedules one
callback (``call_soon``, at most once) that hands each dirty connection's
output to its transport in a single ``write``.  The transport buffers what
the kernel does not take, so what it still holds right after a write is the
backlog the core judges slow consumers on.  One loop timer, armed at the
driver's next deadline, runs the core's tick, the close deadlines and memory
trimming.  ``--loop uvloop`` runs all of it on uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from ._accept import AcceptThrottle
from ._connection import NOTHING_PENDING, RECV_SIZE, Connection
from ._driver import Driver, announce
from ._layers import transport_configs
from ._lifecycle import Phase, Stop
from ._listeners import (
    LISTEN_BACKLOG,
    Listener,
    ListenerKind,
    configure_client,
    format_address,
    open_listeners,
    socket_error,
)
from ._options import ServeOptions
from ._process import RELOAD_SIGNAL, STOP_SIGNALS, raise_open_files_limit
from ._watch import Ready

NAME = "asyncio"
log = logging.getLogger(f"sansio_chat.{NAME}")

#: OS errors that are a client's ordinary misfortune, logged at debug level only.
_ORDINARY_ERRNOS = frozenset(
    {errno.ENOTCONN, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EPROTO}
)


class _Connection(Connection, asyncio.BufferedProtocol):
    """One client: the shared per-connection state, its transport and the transport's callbacks."""

    __slots__ = ("reading_on", "server", "transport", "write_paused")

    transport: asyncio.Transport

    def __init__(self, server: _Server, kind: ListenerKind) -> None:
        Connection.__init__(self, server.driver.new_id(), kind)
        self.server = server
        self.reading_on = True  # whether the transport reads (it does until told otherwise)
        self.write_paused = False  # the transport holds bytes the kernel has not taken

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        # 0: pause_writing comes as soon as a write leaves anything behind, resume_writing once empty.
        self.transport.set_write_buffer_limits(high=0, low=0)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                configure_client(sock)
            except OSError as exc:
                log.debug("cannot configure a client socket: %s", exc)
        self.server.driver.open(self, format_address(transport.get_extra_info("peername")))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.read_buffer  # shared: each read is handed on before the next one

    def buffer_updated(self, nbytes: int) -> None:
        self.server.driver.received(self, self.server.read_buffer[:nbytes].tobytes())

    def eof_received(self) -> bool:
        self.server.driver.eof(self)
        return True  # keep the transport open: the replies still have to go out

    def connection_lost(self, exc: Exception | None) -> None:
        driver = self.server.driver
        driver.lost(self, exc)
        driver.forget(self)
        self.server.forgotten()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.life.phase is not Phase.OPEN:
            self.server.driver.written(self, 0)  # closing: on to the FIN; pending: its pages were read


class _Server:
    """The driver's ``Port``, the per-pass flush, the timer and shutdown."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ServeOptions) -> None:
        self.loop = loop
        self.driver: Driver[_Connection] = Driver(
            options.config,
            self,
            log,
            transports=transport_configs(options),
            flush=options.flush,
            cluster=options.cluster,
        )
        # Every read lands here, then is copied out at its own size.  A plain Protocol
        # would get a fresh bytes object per read, allocated at the transport's full
        # read size (256 KiB) and shrunk: past glibc's mmap threshold, that is an
        # mmap, mremap and munmap per read.
        self.read_buffer = memoryview(bytearray(RECV_SIZE))
        self.stop = Stop()
        self._changed = asyncio.Event()  # a signal came, or the last connection went
        self._pass_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when the armed timer fires, on the driver's clock

    def protocol_factory(self, kind: ListenerKind) -> Callable[[], _Connection]:
        return lambda: _Connection(self, kind)

    # -- the driver's Port -------------------------------------------------------

    def wake(self) -> None:
        if not self._pass_scheduled:
            self._pass_scheduled = True
            self.loop.call_soon(self._run_pass)

    def reading_changed(self, conn: _Connection) -> None:
        wanted = conn.life.reading
        if wanted is not conn.reading_on:
            conn.reading_on = wanted
            if wanted:
                conn.transport.resume_reading()
            else:
                conn.transport.pause_reading()
        self.wake()  # the core's wakeup may have moved: the pass re-arms the timer

    def send_fin(self, conn: _Connection) -> bool:
        transport = conn.transport
        if transport.is_closing() or not transport.can_write_eof():
            return False
        transport.write_eof()  # the buffer is empty: the FIN goes now
        return True

    def close(self, conn: _Connection) -> None:
        conn.transport.close()  # connection_lost follows, and forgets it

    def drop(self, conn: _Connection) -> None:
        conn.transport.abort()  # connection_lost follows, and forgets it

    def socket_error(self, conn: _Connection) -> OSError | None:
        sock = conn.transport.get_extra_info("socket")
        return None if sock is None else socket_error(sock)

    # -- the cluster's sockets (LinkWatcher): the loop's own readers and writers ------------

    def watch(self, sock: socket.socket, *, read: bool, write: bool, ready: Ready) -> None:
        loop, fd = self.loop, sock.fileno()
        if read:
            loop.add_reader(fd, self._link_ready, ready, True, False)
        else:
            loop.remove_reader(fd)
        if write:
            loop.add_writer(fd, self._link_ready, ready, False, True)
        else:
            loop.remove_writer(fd)

    def unwatch(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if fd >= 0:
            self.loop.remove_reader(fd)
            self.loop.remove_writer(fd)

    def _link_ready(self, ready: Ready, readable: bool, writable: bool) -> None:
        ready(readable, writable)
        self.wake()  # flush what the cluster brought, and re-arm the timer
        if self.stop.requested:
            self._changed.set()  # the drain waits for the cluster's goodbye too

    # -- the per-pass work -------------------------------------------------------

    def _run_pass(self) -> None:
        """Run the timers; flush, unless the flush policy holds it (then until the timer's pass)."""
        self._pass_scheduled = False
        driver = self.driver
        driver.run_timers(worked=True)
        if driver.flush_now():
            self._flush()
        self._arm_timer()
        if self.stop.requested:
            self._changed.set()  # (as after the timer's pass)

    def _flush(self) -> None:
        """Hand each dirty connection's output to its transport in one write.

        The flush is inlined over the dirty list rather than a method per
        connection: this loop runs once per recipient per pass, the costliest
        place of a fan-out.
        """
        driver = self.driver
        for conn in driver.take_dirty():
            # Connection.take_output, inlined: only an open or closing connection has any.
            pending = conn.pending
            conn.pending = NOTHING_PENDING
            try:
                conn.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            except RuntimeError:  # uvloop: a write error closed it; connection_lost follows
                continue
            # Only a write the kernel did not take in full pauses writing: a backlog to report.
            if conn.write_paused:
                driver.written(conn, conn.transport.get_write_buffer_size())
        for conn in driver.take_closing():
            if not conn.write_paused:  # all out: on to the FIN (else resume_writing will say so)
                driver.written(conn, 0)

    def _arm_timer(self) -> None:
        if self._pass_scheduled:  # that pass arms it
            return
        at = self.driver.next_deadline()
        if at is None:
            return
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_later(max(0.0, at - self.driver.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        driver = self.driver
        driver.run_timers(worked=False)
        if driver.flush_held and driver.flush_now():  # the hold is over
            self._flush()
        self._arm_timer()
        if self.stop.requested:
            self._changed.set()  # the drain looks again: the cluster may have given up its goodbye

    # -- endings -------------------------------------------------------------------

    def forgotten(self) -> None:
        """A connection is gone; the drain waits for the last one."""
        if not self.driver.conns:
            self._changed.set()

    def on_signal(self) -> None:
        self.stop.signal()
        self._changed.set()

    async def serve_until_stopped(self, servers: list[asyncio.Server]) -> None:
        """Serve until a signal; then tell everyone, stop accepting, and drain within the bound."""
        driver, stop = self.driver, self.stop
        while not stop.requested:
            await self._changed.wait()
            self._changed.clear()
        for server in servers:
            server.close()
        for left in driver.drain(stop):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
            self._changed.clear()
        await asyncio.sleep(0)  # let the aborted transports call connection_lost


class _LoopErrors:
    """The loop's exception handler: ordinary network errors without a traceback.

    Anything that is not an OS error is a bug and is logged as asyncio would.
    A failing ``accept`` (out of descriptors, say) goes through the shared
    ``AcceptThrottle``: asyncio retries it on its own schedule and reports
    every attempt, the throttle warns at most once in a while, with a count.
    """

    def __init__(self) -> None:
        self._throttle = AcceptThrottle()

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, OSError):
            loop.default_exception_handler(context)
            return
        ordinary = isinstance(exc, ConnectionError | TimeoutError) or exc.errno in _ORDINARY_ERRNOS
        warning = None if ordinary else self._throttle.failed(exc, loop.time())
        if warning is not None:
            log.warning("%s", warning)
        else:
            log.debug("%s: %s", context.get("message"), exc)


async def _serve(options: ServeOptions, listeners: list[Listener]) -> int:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_LoopErrors())
    server = _Server(loop, options)
    servers = [
        await loop.create_server(
            server.protocol_factory(listener.kind),
            sock=listener.sock,
            backlog=LISTEN_BACKLOG,
            start_serving=False,
        )
        for listener in listeners
    ]
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, server.on_signal)
    loop.add_signal_handler(RELOAD_SIGNAL, server.driver.reload_certificates)
    server.driver.join_cluster(server)
    # Only now, with the signal handlers in place, may a supervisor see us ready.
    announce(listeners, NAME, options.config, log)
    if type(loop).__module__.startswith("uvloop"):
        log.info("event loop: uvloop")
    for listening in servers:
        await listening.start_serving()
    await server.serve_until_stopped(servers)
    return 0


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name != "uvloop":
        return None
    import uvloop  # noqa: PLC0415 - optional, and only when asked for (the CLI checks it is there)

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def serve(options: ServeOptions) -> int:
    """Run the server on an asyncio event loop until SIGINT or SIGTERM; return the exit status."""
    options = replace(options, config=raise_open_files_limit(options.config, log))
    factory = _loop_factory(options.loop)
    listeners = list(options.opened) or open_listeners(options.listen)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(_serve(options, listeners))
    finally:
        for listener in listeners:
            listener.close()
