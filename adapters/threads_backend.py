"""The ``threads`` backend: a reader thread per client, one writer thread for all, one lock.

The lab's thread-per-client server, made correct and cheap.  The naive
version gives each client one thread that reads a line, decides what it
means, and ``sendall``s the result to the other clients from a shared list.
It races:

* Two clients' messages are handled at once in two threads.  Their updates of
  the shared state (nicknames, the client list) interleave, and so do their
  sends: one client sees A's broadcast before B's, another sees B's first.
* The client list a thread walks is stale: a client joins or leaves while a
  broadcast is in progress, so it misses the line, or the line goes to a
  closed socket, or the iteration fails because the list changed under it.
* ``sendall`` to a client that stops reading blocks once the kernel buffers
  fill.  The blocked thread is another client's reader, so that client stops
  being served; if it holds the list's lock, everybody stops with it.

How this design removes those races:

* Every protocol decision is the sans-IO core's, and every call into it (all
  through the shared driver) is made with one lock held, so events are
  handled one at a time in a single order.  The core's actions are carried
  out under the same lock, in order.
* Carrying out a ``Send`` only appends the shared ``bytes`` to each
  recipient's pending output.  Since that happens under the lock in action
  order, all connections receive broadcasts in one global order, and nothing
  done under the lock ever waits for the network.
* One writer thread sends for everybody.  The driver's dirty list holds the
  connections with output, and the writer is woken through a socket pair at
  most once per wake-up however many connections got output.  Per wake-up
  the writer takes each dirty connection's output (joined, one buffer) and,
  in the usual case (nothing left from an earlier write), sends it at once,
  non-blocking, with the lock held: a call that never waits, cheaper than
  queueing it and accounting for it later.  Output behind a backlog is sent
  with the lock released, each ``send`` non-blocking, and accounted for under
  the lock again.  So a broadcast to N clients costs N ``send`` calls and one
  wake-up, not N thread switches.  When the kernel
  takes less than offered, the writer reports the backlog (the core drops the
  client as too slow past ``--max-pending-bytes``) and watches that socket
  for room; fresh output is tried at once anyway, which is how a client that
  never reads gets judged.  A client that stops reading thus blocks nobody.
* Each connection's reader thread does a blocking ``recv`` and then calls the
  driver under the lock.  When flood control pauses it, it waits on a
  condition before its next ``recv``, having let go of the bytes it read (the
  core keeps its own copy).  The writer's ``select`` timeout is the driver's
  next deadline, so the writer also runs the timers: the core's tick, close
  deadlines, memory trimming.
* Closing follows the shared lifecycle (``_lifecycle.py``): flushed, FIN, and
  the reader reads and discards until the peer's FIN or the linger deadline.
  A dropped connection is shut down at once, which wakes its reader.  Only
  the writer closes sockets, and only once the reader has finished, so a
  descriptor is never closed under a thread still using it, nor reused while
  the writer's selector still holds it.
* The main thread accepts connections and handles SIGINT/SIGTERM: the signal
  handler only counts, and the wake-up socket wakes the accept loop.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from dataclasses import replace

from sansio_chat import ConnId

from ._accept import AcceptThrottle
from ._connection import RECV_SIZE, Connection
from ._driver import Driver, announce
from ._layers import transport_configs
from ._lifecycle import Phase, Stop
from ._listeners import Listener, ListenerKind, accept_ready, open_listeners, socket_error
from ._options import ServeOptions
from ._output import OutputQueue
from ._process import Reload, Wakeup, catch_stop_signals, raise_open_files_limit
from ._watch import Ready, Watched

NAME = "threads"
log = logging.getLogger(f"sansio_chat.{NAME}")

#: Stack size of the reader threads.  Their code is shallow, and there may be thousands.
THREAD_STACK_SIZE = 256 * 1024
#: How often the shutdown wait looks at the signals.
SIGNAL_CHECK_SECONDS = 0.1
#: How long the end of ``run`` waits for the readers of connections it shut down.
JOIN_SECONDS = 2.0

_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class _Connection(Connection):
    """One client socket, its reader thread's state, and what the writer knows of it.

    Everything but ``sock`` is read and written with the server's lock held;
    ``readable`` uses that lock.  ``mask`` and the selector belong to the writer.
    """

    __slots__ = ("attended", "mask", "out", "readable", "reading", "sock")

    def __init__(
        self, conn_id: ConnId, kind: ListenerKind, sock: socket.socket, lock: threading.Lock
    ) -> None:
        super().__init__(conn_id, kind)
        self.sock = sock
        self.out = OutputQueue()  # taken from pending; not yet taken by the kernel
        self.reading = True  # its reader thread has not finished
        self.attended = False  # on the writer's attention list
        self.mask = 0  # EVENT_WRITE while the writer waits for room in the socket
        self.readable = threading.Condition(lock)  # a paused reader waits here


class ThreadsServer:
    """The accept loop (in the calling thread), the readers, the writer; also the driver's ``Port``."""

    def __init__(self, options: ServeOptions, listeners: list[Listener]) -> None:
        self._listeners = listeners
        self._lock = threading.Lock()
        self._all_closed = threading.Condition(self._lock)
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
        self._wakeup = Wakeup()  # the accept loop's: signals and stop()
        # The writer's: its selector (sockets waiting for room), wake-up, and what it must look at.
        self._selector = selectors.DefaultSelector()
        self._writer_wakeup = Wakeup()
        self._attention: list[_Connection] = []  # beyond the dirty list: retire, retry (lock held)
        self._signalled = False  # a wake-up is on its way to the writer (lock held)
        self._stopping = False  # tells the writer to finish
        self._failed = False  # the writer thread failed: exit status 1

    # -- running and stopping -------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; the startup lines are logged once signals are handled."""
        writer = threading.Thread(target=self._writer_loop, name="chat-writer", daemon=True)
        old_stack_size = _set_stack_size(THREAD_STACK_SIZE)
        try:
            with catch_stop_signals(self._stop, self._wakeup, self._reload):
                with self._lock:
                    self._driver.join_cluster(self)  # its sockets are the writer's to watch
                writer.start()
                announce(self._listeners, NAME, self._driver.config, log)
                self._accept_until_stopped()
                self._drain()
        finally:
            with self._lock:
                self._stopping = True
                self._writer_wakeup.wake()
            if writer.ident is not None:
                writer.join(JOIN_SECONDS)
            _set_stack_size(old_stack_size)
            self._wakeup.close()
            if not writer.is_alive():
                for conn in self._driver.conns:  # readers that somehow still hang on
                    conn.sock.close()
                self._writer_wakeup.close()
                self._selector.close()
        return 1 if self._failed else 0

    def stop(self) -> None:
        """Ask ``run`` to shut down, as SIGTERM does; safe from any thread."""
        self._stop.signal()
        self._wakeup.wake()

    def _drain(self) -> None:
        """Tell everyone, stop accepting, let every connection flush and close, within a bound."""
        driver = self._driver
        for listener in self._listeners:
            listener.close()
        with self._lock:
            for left in driver.drain(self._stop):
                self._all_closed.wait(min(left, SIGNAL_CHECK_SECONDS))  # signals are seen between waits
            # The readers of what was dropped are woken; the writer closes each once it is out.
            deadline = driver.clock() + JOIN_SECONDS
            while driver.conns and driver.clock() < deadline:
                self._all_closed.wait(min(deadline - driver.clock(), SIGNAL_CHECK_SECONDS))

    # -- accepting (the main thread) ------------------------------------------

    def _accept_until_stopped(self) -> None:
        throttle, clock = self._throttle, self._driver.clock
        with selectors.DefaultSelector() as selector:
            selector.register(self._wakeup.reader, _READ, None)
            for listener in self._listeners:
                selector.register(listener.sock, _READ, listener)
            accepting = True
            while not self._stop.requested:
                paused_until = throttle.paused_until
                timeout = None if paused_until is None else max(0.0, paused_until - clock())
                for key, _ in selector.select(timeout):
                    if key.data is None:
                        self._wakeup.drain()
                        if self._reload.take():
                            with self._lock:
                                self._driver.reload_certificates()
                    elif accepting and not self._stop.requested:
                        self._accept(key.data)
                if accepting and throttle.paused_until is not None:
                    accepting = False
                    for listener in self._listeners:
                        selector.unregister(listener.sock)
                elif not accepting and throttle.resume(clock()):
                    accepting = True
                    for listener in self._listeners:
                        selector.register(listener.sock, _READ, listener)

    def _accept(self, listener: Listener) -> None:
        """Accept what is waiting, then open the whole batch under one hold of the lock."""
        driver = self._driver
        accepted = accept_ready(listener, self._throttle, driver.clock(), log)
        if not accepted:
            return
        opened = []
        with self._lock:
            for sock, peer in accepted:
                sock.setblocking(True)
                conn = _Connection(driver.new_id(), listener.kind, sock, self._lock)
                driver.open(conn, peer)
                opened.append(conn)
        for conn in opened:
            reader = threading.Thread(
                target=self._reader, args=(conn,), name=f"chat-reader-{conn.id}", daemon=True
            )
            try:
                reader.start()
            except RuntimeError as exc:  # out of threads or memory for stacks
                log.warning("connection %d: cannot start its reader thread: %s", conn.id, exc)
                with self._lock:
                    driver.lost(conn)
                    self._reader_done(conn)

    # -- the reader threads ---------------------------------------------------------

    def _reader(self, conn: _Connection) -> None:
        lock, driver, sock, life = self._lock, self._driver, conn.sock, conn.life
        try:
            while True:
                try:
                    data = sock.recv(RECV_SIZE)
                except OSError as exc:
                    with lock:
                        driver.lost(conn, exc)
                    return
                with lock:
                    if data:
                        driver.received(conn, data)
                    else:
                        driver.eof(conn)
                    del data  # a paused reader keeps no copy of what the core holds
                    while life.paused:  # flood control, or a pending one's answers wait to be read
                        conn.readable.wait()
                    if not life.reading:
                        return
        except Exception:  # a bug, not a network error: log it and drop the connection
            log.exception("connection %d: reader thread failed", conn.id)
            with lock:
                driver.lost(conn)
        finally:
            with lock:
                self._reader_done(conn)

    def _reader_done(self, conn: _Connection) -> None:
        conn.reading = False
        if conn.life.closed:
            self._attend(conn)

    # -- the driver's Port (lock held) -----------------------------------------------

    def wake(self) -> None:
        # While a flush is held the writer sleeps until the hold's deadline, which it read when
        # it held it: what comes meanwhile waits for that round (a thread switch per message saved).
        if not self._signalled and not self._driver.flush_held:
            self._signalled = True
            self._writer_wakeup.wake()

    def reading_changed(self, conn: _Connection) -> None:
        conn.readable.notify()  # a paused reader waits on it
        if conn.life.paused:
            self.wake()  # the core has a new wakeup, perhaps an earlier one: the writer re-arms

    def send_fin(self, conn: _Connection) -> bool:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        return True  # the reader goes on reading (and the driver discarding) until the peer's FIN

    def close(self, conn: _Connection) -> None:
        self._kill(conn)

    def drop(self, conn: _Connection) -> None:
        self._kill(conn)

    def socket_error(self, conn: _Connection) -> OSError | None:
        return socket_error(conn.sock)

    # -- the cluster's sockets (LinkWatcher, lock held): the writer's selector watches them -----

    def watch(self, sock: socket.socket, *, read: bool, write: bool, ready: Ready) -> None:
        wanted = (_READ if read else 0) | (_WRITE if write else 0)
        try:
            key = self._selector.get_key(sock)
        except KeyError:
            if wanted:
                self._selector.register(sock, wanted, Watched(ready))
        else:
            if wanted:
                self._selector.modify(sock, wanted, key.data)
            else:
                self._selector.unregister(sock)
        self.wake()  # the writer selects again, with these sockets and the cluster's next timer

    def unwatch(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _kill(self, conn: _Connection) -> None:
        """Closed: drop its output, wake its reader, have the writer close the socket once it is out."""
        conn.out.clear()
        conn.readable.notify()
        if conn.reading:  # wakes its blocked recv; the socket is closed once the reader is out
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        self._attend(conn)

    def _attend(self, conn: _Connection) -> None:
        """Have the writer look at ``conn`` on its next round."""
        if not conn.attended:
            conn.attended = True
            self._attention.append(conn)
        self.wake()

    # -- the writer thread ----------------------------------------------------------

    def _writer_loop(self) -> None:
        try:
            self._write_until_stopped()
        except Exception:  # a bug: nothing can be sent any more, so stop serving
            log.exception("the writer thread failed")
            self._failed = True
            self.stop()

    def _write_until_stopped(self) -> None:
        lock, driver, selector = self._lock, self._driver, self._selector
        selector.register(self._writer_wakeup.reader, _READ, None)
        timeout: float | None = None
        while True:
            ready = selector.select(timeout)
            has_room = []
            link_ready = []
            for key, mask in ready:
                if key.data is None:
                    self._writer_wakeup.drain()
                elif isinstance(key.data, Watched):
                    link_ready.append((key.data, mask))
                else:
                    has_room.append(key.data)
            with lock:
                if self._stopping:
                    return
                for watched, mask in link_ready:  # the cluster's Redis sockets
                    watched.ready(bool(mask & _READ), bool(mask & _WRITE))
                driver.run_timers(worked=bool(ready))
                writes = self._take_writes(has_room)
            results = _send_all(writes)
            with lock:
                self._account(writes, results)
                # Until now, whoever queues output knows the writer will look again.
                self._signalled = False
                busy = (driver.flush_due and not driver.flush_held) or self._attention
                timeout = 0.0 if busy else driver.seconds_to_deadline()

    def _take_writes(self, has_room: list[_Connection]) -> list[tuple[_Connection, memoryview]]:
        """Take the pending output, settle what needs no write, and take a buffer from the rest."""
        flush = self._driver.flush_now()  # else held: this loop sleeps until the hold's deadline
        dirty = self._driver.take_dirty() if flush else []
        for conn in dirty:
            data = conn.take_output()
            if conn.life.closed:
                continue
            if conn.out:  # after what the kernel held back
                conn.out.append(data)
            else:
                self._send_at_once(conn, data)
        closing = self._driver.take_closing() if flush else []
        attention, self._attention = self._attention, []
        for conn in attention:
            conn.attended = False
        conns = dirty
        if closing or attention or has_room:
            conns = list(dict.fromkeys([*dirty, *closing, *attention, *has_room]))
        writes = []
        driver = self._driver
        known = driver.conns.get
        for conn in conns:
            if known(conn.id) is not conn:  # closed already
                continue
            if conn.life.closed:
                if conn.reading:  # being shut down: stop watching it until its reader is out
                    self._watch(conn, 0)
                else:
                    self._retire(conn)
            elif conn.out:
                writes.append((conn, conn.out.next_write()))
            elif conn.life.phase is not Phase.OPEN:
                driver.written(conn, 0)  # closing and flushed: on to the FIN
        return writes

    def _send_at_once(self, conn: _Connection, data: bytes) -> None:
        """The usual write (nothing left from before), made with the lock held: one non-blocking ``send``.

        It never waits for the network, and it spares the usual case the queue
        and the accounting after the lock is taken again.  What the kernel does
        not take is queued and goes the general way: reported, watched for room.
        """
        try:
            sent = conn.sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._driver.lost(conn, exc)
            return
        if sent < len(data):
            conn.out.append(data)
            conn.out.consume(sent)
            self._backlogged(conn)

    def _account(self, writes: list[tuple[_Connection, memoryview]], results: list[int | OSError]) -> None:
        """Consume what the kernel took; report backlogs; watch full sockets for room."""
        driver = self._driver
        for (conn, view), result in zip(writes, results, strict=True):
            if conn.life.closed:
                continue  # dropped meanwhile: its output was discarded
            if isinstance(result, OSError):
                driver.lost(conn, result)
                continue
            out = conn.out
            out.consume(result)
            if not out:
                self._watch(conn, 0)
                if conn.life.phase is not Phase.OPEN:
                    driver.written(conn, 0)
            elif result == len(view):  # taken in full, more queued: again next round
                self._watch(conn, 0)
                self._attend(conn)
            else:
                self._backlogged(conn)

    def _backlogged(self, conn: _Connection) -> None:
        """The kernel did not take it all: the core judges the slow-consumer rule on the rest."""
        self._driver.written(conn, len(conn.out))
        if not conn.life.closed:  # not dropped as too slow
            self._watch(conn, _WRITE)

    def _watch(self, conn: _Connection, mask: int) -> None:
        if mask == conn.mask:
            return
        if not mask:
            self._selector.unregister(conn.sock)
        else:
            self._selector.register(conn.sock, mask, conn)
        conn.mask = mask

    def _retire(self, conn: _Connection) -> None:
        """Close the socket (its reader is out) and forget the connection."""
        self._watch(conn, 0)
        conn.sock.close()
        self._driver.forget(conn)
        if not self._driver.conns:
            self._all_closed.notify_all()


def _send_all(writes: list[tuple[_Connection, memoryview]]) -> list[int | OSError]:
    """One non-blocking ``send`` per buffer, with the lock released: bytes taken, or the error."""
    results: list[int | OSError] = []
    for conn, view in writes:
        try:
            results.append(conn.sock.send(view, socket.MSG_DONTWAIT))
        except (BlockingIOError, InterruptedError):
            results.append(0)
        except OSError as exc:
            results.append(exc)
    return results


def _set_stack_size(size: int) -> int:
    """Set the stack size of threads started from now on; return the previous one."""
    try:
        return threading.stack_size(size)
    except (ValueError, RuntimeError) as exc:  # unsupported here, or too small for this platform
        log.debug("thread stack size left as is: %s", exc)
        return threading.stack_size()


def serve(options: ServeOptions) -> int:
    """Run the ``threads`` backend until SIGINT or SIGTERM; return the exit status."""
    options = replace(options, config=raise_open_files_limit(options.config, log))
    listeners = list(options.opened) or open_listeners(options.listen)
    try:
        return ThreadsServer(options, listeners).run()
    finally:
        for listener in listeners:
            listener.close()
