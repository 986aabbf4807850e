"""The ``select`` backend: one thread, non-blocking sockets, a selector loop.

This is the lab's ``select`` server grown up: ``selectors.DefaultSelector``
(epoll on Linux), or classic ``select()`` on request.  Each loop pass reads
what is ready and hands it to the driver (which feeds the core), runs the
timers that are due, and then writes each connection that got output with a
single ``send``, so a broadcast to N clients costs N system calls however
many lines it carried.  Everything about closing, deadlines and the core is
the shared driver's (``_driver.py``); this module only waits and moves bytes.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
from dataclasses import replace

from sansio_chat import ConnId

from ._accept import AcceptThrottle
from ._connection import NOTHING_PENDING, RECV_SIZE, Connection
from ._driver import Driver, announce
from ._layers import transport_configs
from ._lifecycle import Phase, Stop
from ._listeners import Listener, ListenerKind, accept_ready, open_listeners, socket_error
from ._options import ServeOptions
from ._output import OutputQueue
from ._process import Reload, Wakeup, catch_stop_signals, raise_open_files_limit
from ._watch import Ready, Watched

NAME = "select"
log = logging.getLogger(f"sansio_chat.{NAME}")

#: Descriptors ``select()`` can watch (FD_SETSIZE), less a few for the listeners and wake-up.
SELECT_MAX_CLIENTS = 1000

_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class _Connection(Connection):
    """A client socket, the bytes the kernel has not taken yet, and the events it is watched for."""

    __slots__ = ("mask", "out", "sock")

    def __init__(self, conn_id: ConnId, kind: ListenerKind, sock: socket.socket) -> None:
        super().__init__(conn_id, kind)
        self.sock = sock
        # Only while the kernel holds back some of its output: most connections, idle or
        # read promptly, never need one, and ten thousand idle ones are cheaper without.
        self.out: OutputQueue | None = None
        self.mask = 0  # the events registered with the selector

    def queue(self) -> OutputQueue:
        out = self.out
        if out is None:
            out = self.out = OutputQueue()
        return out


class SelectorServer:
    """The loop; it is also the driver's ``Port``."""

    def __init__(self, options: ServeOptions, listeners: list[Listener]) -> None:
        if options.selector == "select":
            self._selector: selectors.BaseSelector = selectors.SelectSelector()
        else:
            self._selector = selectors.DefaultSelector()
        self._listeners = listeners
        self._accepting = False
        self._driver: Driver[_Connection] = Driver(
            options.config,
            self,
            log,
            transports=transport_configs(options),
            flush=options.flush,
            cluster=options.cluster,
        )
        self._throttle = AcceptThrottle()
        self._stop = Stop()
        self._reload = Reload()
        self._wakeup = Wakeup()

    # -- the loop -----------------------------------------------------------

    def run(self) -> int:
        self._selector.register(self._wakeup.reader, _READ, None)
        self._start_accepting()
        self._driver.join_cluster(self)
        try:
            with catch_stop_signals(self._stop, self._wakeup, self._reload):
                # Only now, with the signal handlers in place, may a supervisor see us ready.
                announce(self._listeners, NAME, self._driver.config, log)
                while not self._stop.requested:
                    self._pass(self._timeout(None))
                self._drain()
        finally:
            for conn in self._driver.conns:  # only after a failure of the loop itself
                self._close(conn)
            self._selector.close()
            self._wakeup.close()
        return 0

    def _drain(self) -> None:
        """Stop accepting, tell everyone, let the closes finish within the shutdown bound."""
        self._stop_accepting()
        for listener in self._listeners:  # newcomers are refused from now on
            listener.close()
        self._listeners = []
        for left in self._driver.drain(self._stop):
            self._pass(self._timeout(left))

    def _timeout(self, limit: float | None) -> float | None:
        """Sleep no longer than the next thing the loop must do by itself."""
        timeout = self._driver.seconds_to_deadline()
        paused_until = self._throttle.paused_until
        if paused_until is not None:
            left = max(0.0, paused_until - self._driver.clock())
            timeout = left if timeout is None else min(timeout, left)
        if limit is not None:
            timeout = limit if timeout is None else min(timeout, limit)
        return timeout

    def _pass(self, timeout: float | None) -> None:
        """One loop pass: read and accept what is ready, run the timers, flush."""
        events = self._selector.select(timeout)
        if self._reload.take():
            self._driver.reload_certificates()
        for key, mask in events:
            target = key.data
            if isinstance(target, _Connection):
                if target.life.closed:  # closed earlier in this pass
                    continue
                if mask & _READ:
                    self._read(target)
                if mask & _WRITE and not target.life.closed:
                    self._write(target)
            elif isinstance(target, Listener):
                self._accept(target)
            elif isinstance(target, Watched):  # a socket to the cluster's Redis
                target.ready(bool(mask & _READ), bool(mask & _WRITE))
            else:
                self._wakeup.drain()
        self._driver.run_timers(worked=bool(events))
        self._flush()
        if self._throttle.paused_until is not None and self._throttle.resume(self._driver.clock()):
            self._start_accepting()

    # -- accepting ----------------------------------------------------------

    def _accept(self, listener: Listener) -> None:
        driver, selector = self._driver, self._selector
        for sock, peer in accept_ready(listener, self._throttle, driver.clock(), log):
            sock.setblocking(False)
            conn = _Connection(driver.new_id(), listener.kind, sock)
            try:
                selector.register(sock, _READ, conn)
            except ValueError:  # beyond FD_SETSIZE with classic select()
                log.warning("select() cannot watch descriptor %d; refusing %s", sock.fileno(), peer)
                sock.close()
                continue
            conn.mask = _READ
            driver.open(conn, peer)
        if self._throttle.paused_until is not None:
            self._stop_accepting()

    def _start_accepting(self) -> None:
        if not self._accepting:
            for listener in self._listeners:
                self._selector.register(listener.sock, _READ, listener)
            self._accepting = True

    def _stop_accepting(self) -> None:
        if self._accepting:
            for listener in self._listeners:
                self._selector.unregister(listener.sock)
            self._accepting = False

    # -- reading and writing ------------------------------------------------

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._driver.lost(conn, exc)
            return
        if data:
            self._driver.received(conn, data)
        else:
            self._driver.eof(conn)

    def _flush(self) -> None:
        """Write every connection that got output (or a close) this pass, once.

        The usual case (an open connection with nothing left from before, the
        kernel taking everything) is one ``send`` of the joined output and no
        queueing at all; the rest goes through the connection's queue.
        """
        driver = self._driver
        while driver.flush_now():  # (a held flush: the pass that ends its wait asks again)
            for conn in driver.take_dirty():
                # Connection.take_output, inlined: only an open or closing connection has any.
                pending = conn.pending
                conn.pending = NOTHING_PENDING
                data = pending[0] if len(pending) == 1 else b"".join(pending)
                if conn.out:  # after what the kernel held back
                    conn.out.append(data)
                    self._write(conn)
                    continue
                try:
                    sent = conn.sock.send(data)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError as exc:
                    driver.lost(conn, exc)
                    continue
                if sent < len(data):
                    out = conn.queue()
                    out.append(data)
                    out.consume(sent)
                    self._written(conn)
            for conn in driver.take_closing():
                if not conn.out and not conn.life.closed:
                    driver.written(conn, 0)  # all out: on to the FIN

    def _write(self, conn: _Connection) -> None:
        """Send what is queued until the kernel takes less than offered; watch for room if it did."""
        out, sock = conn.queue(), conn.sock
        while out:
            view = out.next_write()
            try:
                sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._driver.lost(conn, exc)
                return
            out.consume(sent)
            if sent < len(view):
                break
        self._written(conn)

    def _written(self, conn: _Connection) -> None:
        """After a write attempt: report what is left, move a close on, watch for room if needed."""
        out = conn.out
        if not out:
            conn.out = None
        if out or conn.life.phase is not Phase.OPEN:
            # What the kernel would not take: the core judges slow consumers on it.  Or a close moves on.
            self._driver.written(conn, len(out) if out else 0)
            if conn.life.closed:
                return
        if bool(out) is not bool(conn.mask & _WRITE):
            self._update(conn)

    # -- the driver's Port ----------------------------------------------------

    def wake(self) -> None:
        """Nothing to do: every pass ends with a flush."""

    def reading_changed(self, conn: _Connection) -> None:
        self._update(conn)

    def send_fin(self, conn: _Connection) -> bool:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        self._update(conn)
        return True

    def close(self, conn: _Connection) -> None:
        self._close(conn)

    def drop(self, conn: _Connection) -> None:
        self._close(conn)

    def socket_error(self, conn: _Connection) -> OSError | None:
        return socket_error(conn.sock)

    # -- the cluster's sockets (LinkWatcher) ------------------------------------

    def watch(self, sock: socket.socket, *, read: bool, write: bool, ready: Ready) -> None:
        wanted = (_READ if read else 0) | (_WRITE if write else 0)
        try:
            key = self._selector.get_key(sock)
        except KeyError:
            if wanted:
                self._selector.register(sock, wanted, Watched(ready))
            return
        if wanted:
            self._selector.modify(sock, wanted, key.data)
        else:
            self._selector.unregister(sock)

    def unwatch(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _close(self, conn: _Connection) -> None:
        sock = conn.sock
        if sock.fileno() < 0:  # closed already
            return
        if conn.mask:
            self._selector.unregister(sock)
            conn.mask = 0
        conn.out = None
        sock.close()
        self._driver.forget(conn)

    def _update(self, conn: _Connection) -> None:
        """Register for exactly the events this connection needs now."""
        if conn.life.closed:
            return
        wanted = (_READ if conn.life.reading else 0) | (_WRITE if conn.out else 0)
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
    config = raise_open_files_limit(options.config, log)
    if options.selector == "select" and config.max_clients > SELECT_MAX_CLIENTS:
        log.warning("classic select() caps max-clients at %d", SELECT_MAX_CLIENTS)
        config = replace(config, max_clients=SELECT_MAX_CLIENTS)
    listeners = list(options.opened) or open_listeners(options.listen)
    try:
        return SelectorServer(replace(options, config=config), listeners).run()
    finally:
        for listener in listeners:
            listener.close()
