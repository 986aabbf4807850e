"""The ``select`` backend: one thread, non-blocking sockets, a selector loop.

This is the lab's ``select`` server grown up: ``selectors.DefaultSelector``
(epoll on Linux), or classic ``select()`` on request.  Each loop pass reads
what is ready, feeds it to the core, and then writes each connection's queued
output with a single ``send``, so a broadcast to N clients costs N system
calls however many lines it carried.
"""

from __future__ import annotations

import enum
import selectors
import signal
import socket
import time
from dataclasses import replace
from types import FrameType

from sansio_chat import ConnId

from ._common import (
    ACCEPT_BACKOFF_SECONDS,
    ACCEPTS_PER_PASS,
    CLOSE_FLUSH_SECONDS,
    LINGER_SECONDS,
    OUT_OF_RESOURCES,
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

#: Descriptors ``select()`` can watch (FD_SETSIZE), less a few for the listener and wakeup.
SELECT_MAX_CLIENTS = 1000


class _State(enum.Enum):
    OPEN = "open"  # the core knows it: its input goes to the core
    CLOSING = "closing"  # the core closed it: what is queued still goes out, then our FIN
    LINGERING = "lingering"  # FIN sent: read and discard until the peer's FIN or the deadline
    CLOSED = "closed"  # socket closed, connection forgotten


class _Connection:
    """One client socket and what the loop knows about it."""

    __slots__ = ("conn", "deadline", "dirty", "eof", "mask", "out", "paused", "sock", "state")

    def __init__(self, conn: ConnId, sock: socket.socket) -> None:
        self.conn = conn
        self.sock = sock
        self.out = bytearray()  # queued, not yet taken by the kernel
        self.dirty = False  # got output this pass: a write is attempted at the end of the pass
        self.mask = 0  # events registered with the selector
        self.paused = False  # flood control: the core asked us to stop reading
        self.eof = False  # the peer sent FIN
        self.state = _State.OPEN
        self.deadline = 0.0  # closing or lingering: when it is closed anyway


class SelectorServer:
    """The loop; it is also the core's action sink."""

    def __init__(self, options: ServeOptions, listener: socket.socket) -> None:
        if options.selector == "select":
            self._selector: selectors.BaseSelector = selectors.SelectSelector()
        else:
            self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = listener
        self._driver = CoreDriver(options, self)
        self._conns: ConnectionTable[_Connection] = ConnectionTable()
        self._dirty: list[_Connection] = []  # got output this pass, not yet written
        self._closing_conns: dict[ConnId, _Connection] = {}  # closing connections, with deadlines
        self._accept_paused_until: float | None = None
        self._signals = 0
        self._wakeup_r, self._wakeup_w = socket.socketpair()

    # -- the loop -----------------------------------------------------------

    def run(self) -> int:
        listener = self._listener
        assert listener is not None
        listener.setblocking(False)
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, self._wakeup_r)
        previous_fd = signal.set_wakeup_fd(self._wakeup_w.fileno(), warn_on_full_buffer=False)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        # Only now, with the signal handlers in place, may a supervisor see us ready.
        announce(listener, "select", self._driver.state.config)
        try:
            self._serve_until_signal()
            self._shut_down()
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for conn in self._conns:
                self._close_now(conn)
            self._selector.close()
            self._wakeup_r.close()
            self._wakeup_w.close()
            if self._listener is not None:
                self._listener.close()
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1

    def _serve_until_signal(self) -> None:
        busy = False
        while not self._signals:
            timeout = self._timeout(None)
            idle_wait = busy and timeout is None  # nothing is due: wait a moment, then trim
            if self._pass(TRIM_AFTER_IDLE_SECONDS if idle_wait else timeout):
                busy = True
            elif idle_wait:  # a quiet moment after some work
                release_free_memory()
                busy = False

    def _shut_down(self) -> None:
        """Tell everyone, stop accepting, flush with a lingering close, all within a bound."""
        self._stop_accepting()
        self._driver.shutdown()
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        handled = self._signals
        while self._conns and self._signals == handled:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._pass(self._timeout(left))
        if self._conns:
            log.info("shutdown: closing %d connections that did not finish in time", len(self._conns))

    def _timeout(self, limit: float | None) -> float | None:
        """Sleep no longer than the next thing the loop must do by itself."""
        wakeup = self._driver.seconds_to_wakeup()
        if not self._closing_conns and self._accept_paused_until is None:  # the usual case, kept cheap
            return wakeup if limit is None or (wakeup is not None and wakeup < limit) else limit
        now = time.monotonic()
        candidates = [limit, wakeup]
        if self._accept_paused_until is not None:
            candidates.append(self._accept_paused_until - now)
        candidates.extend(c.deadline - now for c in self._closing_conns.values())
        present = [c for c in candidates if c is not None]
        return max(0.0, min(present)) if present else None

    def _pass(self, timeout: float | None) -> int:
        """One loop pass; returns how many ready events it handled."""
        events = self._selector.select(timeout)
        for key, mask in events:
            data = key.data
            if data is None:
                self._accept()
            elif isinstance(data, _Connection):
                if mask & selectors.EVENT_READ:
                    self._read(data)
                if mask & selectors.EVENT_WRITE and data.state is not _State.CLOSED:
                    self._write(data)
            else:
                self._drain_wakeup()
        wakeup = self._driver.seconds_to_wakeup()
        if wakeup is not None and wakeup <= 0:
            self._driver.tick()
        self._flush_dirty()
        if self._closing_conns:
            self._expire_closing()
        if self._accept_paused_until is not None and self._accept_paused_until <= time.monotonic():
            self._resume_accepting()
        return len(events)

    # -- accepting ----------------------------------------------------------

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        for _ in range(ACCEPTS_PER_PASS):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    log.warning("cannot accept: %s; pausing accepts briefly", exc.strerror)
                    self._pause_accepting()
                else:
                    log.debug("accept failed: %s", exc)
                return
            self._add(sock, address)

    def _add(self, sock: socket.socket, address: object) -> None:
        try:
            sock.setblocking(False)
            configure_client(sock)
        except OSError:  # reset before we even looked at it
            sock.close()
            return
        conn = _Connection(self._driver.new_conn_id(), sock)
        try:
            self._selector.register(sock, selectors.EVENT_READ, conn)
        except ValueError:  # beyond FD_SETSIZE with classic select()
            log.warning("select() cannot watch descriptor %d; refusing %s", sock.fileno(), address)
            sock.close()
            return
        conn.mask = selectors.EVENT_READ
        self._conns.add(conn.conn, conn)
        self._driver.opened(conn.conn, format_address(address))

    def _pause_accepting(self) -> None:
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._accept_paused_until = time.monotonic() + ACCEPT_BACKOFF_SECONDS

    def _resume_accepting(self) -> None:
        self._accept_paused_until = None
        if self._listener is not None:
            self._selector.register(self._listener, selectors.EVENT_READ, None)

    def _stop_accepting(self) -> None:
        if self._listener is not None:
            if self._accept_paused_until is None:
                self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
            self._accept_paused_until = None

    def _drain_wakeup(self) -> None:
        try:
            while self._wakeup_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # -- reading and writing ------------------------------------------------

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._lost(conn)
            return
        if conn.state is not _State.OPEN:  # closing: input is discarded until the peer's FIN
            if not data:
                self._close_now(conn)
            return
        if data:
            self._driver.received(conn.conn, data)
        else:
            conn.eof = True
            self._update(conn)
            self._driver.eof(conn.conn)

    def _write(self, conn: _Connection) -> None:
        """One ``send`` of everything queued; what the kernel does not take stays queued."""
        out = conn.out
        try:
            sent = conn.sock.send(out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._lost(conn)
            return
        del out[:sent]  # O(1): a bytearray drops its head without moving the rest
        if out:
            # What the kernel would not take: the core judges slow consumers on it.
            self._driver.backlog(conn.conn, len(out))
            if conn.state is _State.CLOSED:  # dropped as too slow
                return
            if not conn.mask & selectors.EVENT_WRITE:
                self._update(conn)
        elif conn.state is _State.CLOSING:
            self._finish(conn)
        elif conn.mask & selectors.EVENT_WRITE:
            self._update(conn)

    def _flush_dirty(self) -> None:
        closed = _State.CLOSED
        while self._dirty:
            dirty, self._dirty = self._dirty, []
            for conn in dirty:
                conn.dirty = False
                if conn.out and conn.state is not closed:
                    self._write(conn)

    def _lost(self, conn: _Connection) -> None:
        """The socket failed: forget it first, so the core's replies to it go nowhere."""
        was_open = conn.state is _State.OPEN
        self._close_now(conn)
        if was_open:
            self._driver.reset(conn.conn)

    # -- the core's actions -------------------------------------------------

    def send(self, conns: tuple[ConnId, ...], data: bytes) -> None:
        dirty = self._dirty
        for conn in self._conns.recipients(conns):
            conn.out += data
            if not conn.dirty:
                conn.dirty = True
                dirty.append(conn)

    def close(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is None or conn.state is not _State.OPEN:
            return
        conn.state = _State.CLOSING
        conn.paused = False
        # A client that will not take its last bytes cannot hold the connection forever.
        conn.deadline = time.monotonic() + CLOSE_FLUSH_SECONDS
        self._closing_conns[conn.conn] = conn
        if not conn.out:
            self._finish(conn)
        else:
            self._update(conn)

    def abort(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            self._close_now(conn)

    def pause_reading(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None and conn.state is _State.OPEN:
            conn.paused = True
            self._update(conn)

    def resume_reading(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None and conn.state is _State.OPEN:
            conn.paused = False
            self._update(conn)

    # -- closing --------------------------------------------------------------

    def _finish(self, conn: _Connection) -> None:
        """All output is flushed: send our FIN, then linger until the peer's."""
        if conn.eof:
            self._close_now(conn)
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close_now(conn)
            return
        conn.state = _State.LINGERING
        conn.deadline = time.monotonic() + LINGER_SECONDS
        self._closing_conns[conn.conn] = conn
        self._update(conn)

    def _expire_closing(self) -> None:
        now = time.monotonic()
        for conn in list(self._closing_conns.values()):
            if conn.deadline <= now:
                self._close_now(conn)

    def _close_now(self, conn: _Connection) -> None:
        if self._conns.pop(conn.conn) is None:
            return
        conn.state = _State.CLOSED
        self._closing_conns.pop(conn.conn, None)
        if conn.mask:
            self._selector.unregister(conn.sock)
            conn.mask = 0
        conn.out.clear()
        conn.sock.close()

    def _update(self, conn: _Connection) -> None:
        """Register for exactly the events this connection needs now."""
        wanted = 0
        if conn.state is _State.LINGERING:
            wanted = selectors.EVENT_READ
        elif conn.state is _State.CLOSING:
            if conn.out:
                wanted = selectors.EVENT_WRITE
        else:
            if not conn.paused and not conn.eof:
                wanted = selectors.EVENT_READ
            if conn.out:
                wanted |= selectors.EVENT_WRITE
        if wanted == conn.mask:
            return
        if not wanted:
            self._selector.unregister(conn.sock)
        elif not conn.mask:
            self._selector.register(conn.sock, wanted, conn)
        else:
            self._selector.modify(conn.sock, wanted, conn)
        conn.mask = wanted


def serve(options: ServeOptions) -> int:
    """Run the ``select`` backend until SIGINT or SIGTERM; return the exit status."""
    config = raise_open_files_limit(options.config)
    if options.selector == "select" and config.max_clients > SELECT_MAX_CLIENTS:
        log.warning("classic select() caps max-clients at %d", SELECT_MAX_CLIENTS)
        config = replace(config, max_clients=SELECT_MAX_CLIENTS)
    options = replace(options, config=config)
    listener = open_listener(options.host, options.port)
    return SelectorServer(options, listener).run()
