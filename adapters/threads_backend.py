"""The ``threads`` backend: a reader and a writer thread per client, one lock around the core.

The lab's thread-per-client server, made correct.  The naive version gives
each client one thread that reads a line, decides what it means, and
``sendall``s the result to the other clients from a shared list.  It races:

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

* Every protocol decision is the sans-IO core's, and every call into it is
  made with one lock held, so events are handled one at a time in a single
  order.  The core's actions are carried out under the same lock, in order.
* Carrying out a ``Send`` only appends the shared ``bytes`` to each
  recipient's FIFO output queue and wakes its writer.  Since that happens under
  the lock in action order, all queues receive broadcasts in one global order,
  and nothing done under the lock ever waits for the network.
* Each connection has a writer thread that takes what is queued under the
  lock and sends it with the lock released, so a client that stops reading
  blocks nobody but its own writer.  Each send is a non-blocking attempt.
  When the kernel takes less than offered, the writer reports the backlog
  it still holds, and the core drops the client as too slow past
  ``--max-pending-bytes``.  A writer with a full socket waits on its
  condition, not in a system call.  So fresh output wakes it for a new
  attempt, which is how a client that never reads gets judged.  One watcher
  thread waits for room in all full sockets and wakes their writers.
* Each connection's reader thread does a blocking ``recv`` and then calls the
  core under the lock.  When flood control pauses it, it waits on a condition
  before its next ``recv``.  One ticker thread sleeps until the core's next
  wakeup and then ticks the core.
* Readers also wait, before their next ``recv``, while some writer holds a
  lot of output (a quarter of ``--max-pending-bytes``, at most one write's
  worth) that its socket has room for.  Without this, a reader (whose one
  line becomes N copies) runs ahead of writers starved of the GIL and the
  lock.  Queues grow, and the first send a client's kernel cannot take in full
  finds a backlog past the limit, even though that client reads promptly.
  Such a writer drains or finds its socket full within an attempt or two.
  A writer whose client is not reading is never waited for.
* A closed connection is flushed, gets a FIN, and its input is read and
  discarded until the peer's FIN or ``LINGER_SECONDS``.  An aborted or failed
  one is shut down at once, which wakes both of its threads.  The socket is
  closed by whichever of the two threads finishes last, so a descriptor is
  never closed under a thread that is still using it.
* The main thread accepts connections and handles SIGINT/SIGTERM: the signal
  handler only sets a flag, and the wakeup descriptor wakes the accept loop.
  Shutdown then runs under ``SHUTDOWN_FLUSH_SECONDS``, and whatever is left at
  the end is shut down.
"""

from __future__ import annotations

import contextlib
import enum
import math
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import FrameType

from sansio_chat import ConnId

from ._common import (
    ACCEPT_BACKOFF_SECONDS,
    ACCEPTS_PER_PASS,
    LINGER_SECONDS,
    OUT_OF_RESOURCES,
    RECV_SIZE,
    SHUTDOWN_FLUSH_SECONDS,
    WRITE_CHUNK,
    CoreDriver,
    OutputQueue,
    ServeOptions,
    announce,
    configure_client,
    format_address,
    log,
    open_listener,
    raise_open_files_limit,
)

#: Stack size of the threads this backend starts.  Their code is shallow, and
#: 2,000 clients are 4,000 threads.
THREAD_STACK_SIZE = 256 * 1024
#: How long a connection the core has closed may take to take its last bytes.
#: After that it is dropped, so a client that never reads cannot hold two
#: threads forever.
CLOSE_FLUSH_SECONDS = 10.0
#: How often the shutdown wait checks for a second signal.
SIGNAL_CHECK_SECONDS = 0.1
#: How long ``serve`` waits for the threads of connections it shut down at the end.
JOIN_SECONDS = 2.0


class _Phase(enum.Enum):
    """Where a connection is in its life."""

    OPEN = "open"  # the core owns it: input goes to the core, output is sent
    CLOSING = "closing"  # the core closed it: flush, FIN, discard input until EOF or linger ends
    DEAD = "dead"  # aborted or failed: nothing more is read or sent; its threads finish


class _Connection:
    """One client socket, its output queue, and what its two threads share.

    Everything except ``sock``, ``threads`` and ``workers`` is read and written
    with the server's lock held.  Both conditions use that lock.
    """

    __slots__ = (
        "close_by",
        "conn",
        "crowded",
        "fresh",
        "full",
        "out",
        "paused",
        "phase",
        "readable",
        "reading",
        "room",
        "sock",
        "sock_closed",
        "threads",
        "watched",
        "workers",
        "writable",
    )

    def __init__(self, conn: ConnId, sock: socket.socket, lock: threading.Lock) -> None:
        self.conn = conn
        self.sock = sock
        self.out = OutputQueue()
        self.phase = _Phase.OPEN
        self.paused = False  # flood control: the reader waits before its next recv
        self.reading = True  # the reader thread has not finished
        # The writer's side: ``full`` after the kernel refused its last attempt,
        # until ``room`` (seen by the room watcher) or ``fresh`` output comes;
        # ``crowded`` while, not full, it holds more than the sink's crowd limit.
        self.crowded = False
        self.full = False
        self.room = False
        self.fresh = False
        self.watched = False  # handed to the room watcher, which owns the socket's closing then
        self.close_by: float | None = None  # CLOSING: the last moment to finish flushing
        self.threads = 2  # threads that have not finished; the last one closes the socket
        self.sock_closed = False
        self.workers: list[threading.Thread] = []
        self.writable = threading.Condition(lock)  # the writer waits: output, room or phase change
        self.readable = threading.Condition(lock)  # a paused reader waits: resumed or phase changed

    @property
    def dead(self) -> bool:
        # Another thread may kill the connection whenever the lock is released,
        # so this is asked afresh each time (and type checkers do not narrow it).
        return self.phase is _Phase.DEAD


class _Sink:
    """The open connections and the core's actions on them, carried out with the lock held.

    Nothing here ever blocks.  It also counts the *crowded* writers: those
    that hold more than ``crowd_limit`` bytes while their socket is not full,
    that is, output they are about to send.  Readers wait for none to be left
    before their next ``recv`` (see the module docstring).
    """

    def __init__(self, lock: threading.Lock, ticker: threading.Condition, crowd_limit: int) -> None:
        self.conns: dict[ConnId, _Connection] = {}
        self.crowded = 0
        self.uncrowded = threading.Condition(lock)  # readers wait here for crowded == 0
        self._crowd_limit = crowd_limit
        self._ticker = ticker

    # -- the ActionSink ---------------------------------------------------------

    def send(self, conns: tuple[ConnId, ...], data: bytes) -> None:
        get = self.conns.get
        for target in conns:
            conn = get(target)
            if conn is None or conn.phase is not _Phase.OPEN:
                continue
            # The writer waits on an empty queue, or on a full socket until fresh
            # output comes: the core wants every new output tried at once.
            if not conn.out or (conn.full and not conn.fresh):
                conn.writable.notify()
            out = conn.out
            out.append(data)
            conn.fresh = True
            if not conn.crowded and not conn.full and out.size > self._crowd_limit:
                conn.crowded = True
                self.crowded += 1

    def close(self, conn_id: ConnId) -> None:
        conn = self.conns.get(conn_id)
        if conn is None or conn.phase is not _Phase.OPEN:
            return
        conn.phase = _Phase.CLOSING
        conn.close_by = time.monotonic() + CLOSE_FLUSH_SECONDS
        conn.paused = False  # input is now read and discarded
        conn.readable.notify()
        conn.writable.notify()

    def abort(self, conn_id: ConnId) -> None:
        conn = self.conns.get(conn_id)
        if conn is not None:
            self.kill(conn)

    def pause_reading(self, conn_id: ConnId) -> None:
        conn = self.conns.get(conn_id)
        if conn is not None and conn.phase is _Phase.OPEN:
            conn.paused = True
            self._ticker.notify()  # the core now has a wakeup, perhaps an earlier one

    def resume_reading(self, conn_id: ConnId) -> None:
        conn = self.conns.get(conn_id)
        if conn is not None and conn.paused:
            conn.paused = False
            conn.readable.notify()

    # -- bookkeeping for the threads --------------------------------------------

    def kill(self, conn: _Connection) -> None:
        """Make ``conn`` dead now: drop its output and wake both of its threads."""
        if conn.phase is _Phase.DEAD:
            return
        conn.phase = _Phase.DEAD
        conn.out.clear()
        conn.paused = False
        self.relieve(conn)
        conn.readable.notify()
        conn.writable.notify()
        # Wakes a recv blocked on this socket; the last thread out closes it.
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)

    def relieve(self, conn: _Connection, *, finished: bool = False) -> None:
        """After a write attempt: ``conn`` is no longer crowded if its socket is full or it has drained."""
        if conn.crowded and (finished or conn.full or conn.out.size <= self._crowd_limit):
            conn.crowded = False
            self.crowded -= 1
            if not self.crowded:
                self.uncrowded.notify_all()


class _RoomWatcher:
    """One thread that waits for room in full sockets and wakes their writers.

    A writer never waits for room in a system call: it waits on its condition,
    so that fresh output (which the core wants tried at once), room, or a
    phase change all wake it.  Only this thread touches the selector; the
    others hand it requests under the lock.  A watched socket is closed by
    this thread too, after it left the selector, so that a descriptor number
    is never reused while the selector still holds it.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ)
        self._to_watch: list[_Connection] = []
        self._to_close: list[_Connection] = []
        self._stopping = False

    def watch(self, conn: _Connection) -> None:
        """Wake ``conn``'s writer when its socket has room (lock held)."""
        if not conn.watched and not self._stopping:
            conn.watched = True
            self._to_watch.append(conn)
            self._wake()

    def take_close(self, conn: _Connection) -> bool:
        """Close ``conn``'s socket here if it is watched; False: the caller closes it (lock held)."""
        if not conn.watched or self._stopping:
            return False
        self._to_close.append(conn)
        self._wake()
        return True

    def stop(self) -> None:
        """Finish the requests so far, then end (lock held)."""
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full wakeup socket is awake already
            self._wakeup_w.send(b"\0")

    def run(self) -> None:
        selector = self._selector
        try:
            while True:
                with self._lock:
                    to_watch, self._to_watch = self._to_watch, []
                    to_close, self._to_close = self._to_close, []
                    stopping = self._stopping
                for conn in to_watch:
                    try:
                        selector.register(conn.sock, selectors.EVENT_WRITE, conn)
                    except (KeyError, ValueError, OSError):  # closed meanwhile
                        self._has_room(conn)
                for conn in to_close:
                    with contextlib.suppress(KeyError, ValueError):
                        selector.unregister(conn.sock)
                    conn.sock.close()
                if stopping:
                    return
                for key, _ in selector.select():
                    if key.fileobj is self._wakeup_r:
                        with contextlib.suppress(BlockingIOError, InterruptedError):
                            while self._wakeup_r.recv(4096):
                                pass
                    else:
                        assert isinstance(key.data, _Connection)
                        selector.unregister(key.fileobj)
                        self._has_room(key.data)
        finally:
            selector.close()
            self._wakeup_r.close()
            self._wakeup_w.close()

    def _has_room(self, conn: _Connection) -> None:
        with self._lock:
            conn.watched = False
            conn.room = True
            conn.writable.notify()


class ThreadsServer:
    """The accept loop (in the calling thread) and the per-connection threads.

    ``run`` serves until SIGINT or SIGTERM (when called in the main thread) or
    until ``stop``; a second signal or ``stop`` cuts the shutdown short.
    """

    def __init__(self, options: ServeOptions, listener: socket.socket) -> None:
        self._listener = listener
        self._config = options.config
        self._lock = threading.Lock()
        self._all_closed = threading.Condition(self._lock)
        self._ticker = threading.Condition(self._lock)
        # A writer holding more than this, with room in its socket, holds readers back.
        crowd_limit = max(1, min(WRITE_CHUNK, options.config.max_pending_bytes // 4))
        self._sink = _Sink(self._lock, self._ticker, crowd_limit)
        self._conns = self._sink.conns
        self._driver = CoreDriver(options, self._sink)
        self._watcher = _RoomWatcher(self._lock)
        self._stopping = False  # tells the ticker to finish (lock held)
        self._stops = 0  # signals (or stop calls) received
        self._last_accept_warning = -math.inf
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)

    # -- running and stopping -------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; the startup line is logged once signals are handled."""
        old_stack_size = _set_stack_size(THREAD_STACK_SIZE)
        restore_signals = self._catch_signals()
        helpers = [
            threading.Thread(target=self._tick_loop, name="chat-ticker", daemon=True),
            threading.Thread(target=self._watcher.run, name="chat-room-watcher", daemon=True),
        ]
        try:
            for helper in helpers:
                helper.start()
            announce(self._listener, "threads", self._config)
            self._accept_until_stopped()
            self._shut_down()
        finally:
            with self._lock:
                self._stopping = True
                self._ticker.notify()
                self._watcher.stop()
            for helper in helpers:
                if helper.ident is not None:
                    helper.join(JOIN_SECONDS)
            restore_signals()
            _set_stack_size(old_stack_size)
            self._listener.close()
            self._wakeup_r.close()
            self._wakeup_w.close()
        return 0

    def stop(self) -> None:
        """Ask ``run`` to shut down, as SIGTERM does; safe from any thread."""
        self._stops += 1
        with contextlib.suppress(OSError):
            self._wakeup_w.send(b"\0")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between bytecodes: only a counter.  The
        # wakeup descriptor makes the accept loop's select return.
        self._stops += 1

    def _catch_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # signals go to whoever runs the main thread; use stop()
        previous_fd = signal.set_wakeup_fd(self._wakeup_w.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

        return restore

    def _shut_down(self) -> None:
        """Tell everyone, stop accepting, let every connection flush and close, within a bound."""
        with self._lock:
            self._driver.shutdown()
        self._listener.close()
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        handled = self._stops
        with self._lock:
            while self._conns and self._stops == handled:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._all_closed.wait(min(left, SIGNAL_CHECK_SECONDS))
            remaining = list(self._conns.values())
            for conn in remaining:
                self._sink.kill(conn)
        if not remaining:
            return
        if self._stops == handled:
            log.info("shutdown: closing %d connections that did not finish in time", len(remaining))
        else:
            log.info("shutdown: second signal, closing %d connections now", len(remaining))
        deadline = time.monotonic() + JOIN_SECONDS
        for conn in remaining:
            for worker in conn.workers:
                worker.join(max(0.0, deadline - time.monotonic()))
        for conn in remaining:  # threads that are somehow still stuck: close anyway
            self._close_socket(conn)

    # -- accepting (the main thread) ------------------------------------------

    def _accept_until_stopped(self) -> None:
        self._listener.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wakeup_r, selectors.EVENT_READ)
            while not self._stops:
                for key, _ in selector.select():
                    if key.fileobj is self._wakeup_r:
                        self._drain_wakeup()
                    elif not self._stops:
                        self._accept()

    def _drain_wakeup(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._wakeup_r.recv(4096):
                pass

    def _accept(self) -> None:
        """Accept what is waiting, then open the whole batch under one hold of the lock.

        A burst of joins then costs each other client's writer one wakeup, not
        one per join: the notices pile up in its queue and go out in one send.
        """
        accepted: list[tuple[socket.socket, object]] = []
        for _ in range(ACCEPTS_PER_PASS):
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    self._warn_accept(exc)
                    time.sleep(ACCEPT_BACKOFF_SECONDS)
                else:
                    log.debug("accept failed: %s", exc)
                break
            try:
                sock.setblocking(True)
                configure_client(sock)
            except OSError as exc:  # reset before we even looked at it
                log.debug("dropped a new connection: %s", exc)
                sock.close()
                continue
            accepted.append((sock, address))
        if not accepted:
            return
        opened = []
        with self._lock:
            for sock, address in accepted:
                conn = _Connection(self._driver.new_conn_id(), sock, self._lock)
                self._conns[conn.conn] = conn
                self._driver.opened(conn.conn, format_address(address))
                opened.append(conn)
        for conn in opened:
            self._start_threads(conn)

    def _warn_accept(self, exc: OSError) -> None:
        """A warning at most every ten seconds: a full descriptor table repeats fast."""
        now = time.monotonic()
        level = "debug"
        if now - self._last_accept_warning >= 10.0:
            self._last_accept_warning = now
            level = "warning"
        getattr(log, level)("cannot accept: %s; pausing accepts briefly", exc.strerror)

    def _start_threads(self, conn: _Connection) -> None:
        for role, target in (("writer", self._write_loop), ("reader", self._read_loop)):
            worker = threading.Thread(
                target=target, args=(conn,), name=f"chat-{role}-{conn.conn}", daemon=True
            )
            try:
                worker.start()
            except RuntimeError as exc:  # out of threads or memory for stacks
                log.warning("connection %d: cannot start its %s thread: %s", conn.conn, role, exc)
                self._lost(conn)
                return
            conn.workers.append(worker)

    def _lost(self, conn: _Connection) -> None:
        """A connection whose threads could not all start: tell the core, drop it."""
        with self._lock:
            was_open = conn.phase is _Phase.OPEN
            self._sink.kill(conn)
            conn.reading = False
            if was_open:
                self._driver.reset(conn.conn)
        for _ in range(2 - len(conn.workers)):  # the threads that never ran
            self._thread_done(conn)

    # -- the per-connection threads -------------------------------------------

    def _read_loop(self, conn: _Connection) -> None:
        try:
            self._read(conn)
        except Exception:
            self._crashed(conn, "reader")
        finally:
            with self._lock:
                conn.reading = False
                conn.writable.notify()  # a lingering writer waits for this
            self._thread_done(conn)

    def _read(self, conn: _Connection) -> None:
        lock, driver, sink, sock = self._lock, self._driver, self._sink, conn.sock
        while True:
            try:
                data = sock.recv(RECV_SIZE)
            except OSError as exc:
                with lock:
                    self._failed(conn, exc)
                return
            with lock:
                if conn.phase is _Phase.OPEN:
                    if data:
                        driver.received(conn.conn, data)
                    else:
                        driver.eof(conn.conn)
                # CLOSING: the input is discarded until the peer's FIN.
                if not data or conn.dead:
                    return
                while conn.paused:
                    conn.readable.wait()
                while sink.crowded and conn.phase is _Phase.OPEN:
                    sink.uncrowded.wait()
                if conn.dead:
                    return

    def _write_loop(self, conn: _Connection) -> None:
        try:
            if self._write(conn):
                self._linger(conn)
        except Exception:
            self._crashed(conn, "writer")
        finally:
            with self._lock:
                self._sink.relieve(conn, finished=True)  # however it ended, readers must not wait
            self._thread_done(conn)

    def _write(self, conn: _Connection) -> bool:
        """Send what is queued until the core closes or aborts; True when closed and flushed.

        Each ``send`` is a non-blocking attempt, and one hold of the lock
        reports an attempt and takes the next buffer.
        """
        lock, sock = self._lock, conn.sock
        attempt: tuple[int, int] | None = None  # (offered, sent) of the last send, until reported
        while True:
            with lock:
                if attempt is not None and not self._report(conn, *attempt):
                    return False
                data = self._next_buffer(conn)
                if data is None:
                    return not conn.dead
            try:
                attempt = (len(data), sock.send(data, socket.MSG_DONTWAIT))
            except (BlockingIOError, InterruptedError):
                attempt = (len(data), 0)
            except OSError as exc:
                with lock:
                    self._failed(conn, exc)
                return False

    def _report(self, conn: _Connection, offered: int, sent: int) -> bool:
        """Account for a write attempt (lock held); False when the connection is dead."""
        if conn.dead:
            return False
        out = conn.out
        out.consume(sent)
        if sent < offered and conn.phase is _Phase.OPEN:
            # The kernel did not take it all: the core judges the slow-consumer rule on what is left.
            self._driver.backlog(conn.conn, out.size)
            if conn.dead:
                return False
        if out and not sent:  # the socket is full: wait for room, or for fresh output to try
            conn.full = True
            self._watcher.watch(conn)
        self._sink.relieve(conn)
        return True

    def _next_buffer(self, conn: _Connection) -> memoryview | None:
        """Wait until there is something to try to send (lock held); None: nothing ever will."""
        out = conn.out
        while not conn.dead:
            if conn.full:
                if conn.room or conn.fresh:
                    break
                timeout = None
                if conn.close_by is not None:  # closed: the client has a while to take the rest
                    timeout = conn.close_by - time.monotonic()
                    if timeout <= 0:
                        log.debug("connection %d: dropped with %d bytes unsent", conn.conn, out.size)
                        self._sink.kill(conn)
                        break
                conn.writable.wait(timeout)
            elif out:
                break
            elif conn.phase is _Phase.OPEN:
                conn.writable.wait()
            else:
                return None  # closing, and everything is flushed
        if conn.dead:
            return None
        conn.full = conn.room = conn.fresh = False
        return out.next_write()

    def _linger(self, conn: _Connection) -> None:
        """Everything is flushed: FIN, then wait for the reader to see the peer's FIN, boundedly."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            with self._lock:
                self._failed(conn, exc)
            return
        deadline = time.monotonic() + LINGER_SECONDS
        with self._lock:
            while conn.reading and conn.phase is _Phase.CLOSING:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._sink.kill(conn)  # wakes the reader
                    return
                conn.writable.wait(left)

    def _failed(self, conn: _Connection, exc: OSError) -> None:
        """A recv or send failed (reset, broken pipe): tell the core once, drop it (lock held)."""
        if conn.phase is _Phase.DEAD:
            return  # our own shutdown woke the thread
        log.debug("connection %d: %s", conn.conn, exc)
        was_open = conn.phase is _Phase.OPEN
        self._sink.kill(conn)
        if was_open:
            self._driver.reset(conn.conn)

    def _crashed(self, conn: _Connection, role: str) -> None:
        """A bug, not a network error: log it with its traceback and drop the connection."""
        log.exception("connection %d: %s thread failed", conn.conn, role)
        with self._lock:
            was_open = conn.phase is _Phase.OPEN
            self._sink.kill(conn)
            if was_open:
                try:
                    self._driver.reset(conn.conn)
                except Exception:
                    log.exception("connection %d: the core failed on its reset", conn.conn)

    def _thread_done(self, conn: _Connection) -> None:
        with self._lock:
            conn.threads -= 1
            if conn.threads:
                return
            del self._conns[conn.conn]
            if not self._conns:
                self._all_closed.notify_all()
        self._close_socket(conn)

    def _close_socket(self, conn: _Connection) -> None:
        with self._lock:
            if conn.sock_closed:
                return
            conn.sock_closed = True
            if self._watcher.take_close(conn):
                return
        conn.sock.close()

    # -- flood control wakeups --------------------------------------------------

    def _tick_loop(self) -> None:
        driver = self._driver
        with self._lock:
            while not self._stopping:
                delay = driver.seconds_to_wakeup()
                if delay is None:
                    self._ticker.wait()
                elif delay > 0:
                    self._ticker.wait(delay)
                else:
                    try:
                        driver.tick()
                    except Exception:
                        log.exception("the core failed on a tick")
                        self._ticker.wait(1.0)


def _set_stack_size(size: int) -> int:
    """Set the stack size of threads started from now on; return the previous one."""
    try:
        return threading.stack_size(size)
    except (ValueError, RuntimeError) as exc:  # unsupported here, or too small for this platform
        log.debug("thread stack size left as is: %s", exc)
        return threading.stack_size()


def serve(options: ServeOptions) -> int:
    """Run the ``threads`` backend until SIGINT or SIGTERM; return the exit status."""
    config = raise_open_files_limit(options.config)
    options = replace(options, config=config)
    listener = open_listener(options.host, options.port)
    return ThreadsServer(options, listener).run()
