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

* Every protocol decision is the sans-IO core's, and every call into it is
  made with one lock held, so events are handled one at a time in a single
  order.  The core's actions are carried out under the same lock, in order.
* Carrying out a ``Send`` only appends the shared ``bytes`` to each
  recipient's FIFO output queue.  Since that happens under the lock in action
  order, all queues receive broadcasts in one global order, and nothing done
  under the lock ever waits for the network.
* One writer thread sends for everybody.  A connection that gets output while
  it had none is put on the writer's list, and the writer is woken through a
  socket pair, at most once per wake-up however many connections got output.
  Per wake-up the writer takes each listed connection's queue (joined, one
  buffer), sends all of them with the lock released, each ``send``
  non-blocking, and then accounts for them under the lock again.  So a
  broadcast to N clients costs N ``send`` calls and one wake-up, not N thread
  switches.  When the kernel takes less than offered, the writer reports the
  backlog it still holds (the core drops the client as too slow past
  ``--max-pending-bytes``) and watches that socket for room; fresh output is
  tried at once anyway, which is how a client that never reads gets judged.
  A client that stops reading thus blocks nobody.
* Each connection's reader thread does a blocking ``recv`` and then calls the
  core under the lock.  When flood control pauses it, it waits on a condition
  before its next ``recv``.  The writer's ``select`` timeout is the core's
  next wakeup, so the writer also ticks the core.
* A closed connection is flushed, gets a FIN, and its input is read (by its
  reader) and discarded until the peer's FIN or ``LINGER_SECONDS``.  An
  aborted or failed one is shut down at once, which wakes its reader.  Only
  the writer closes sockets, and only once the reader has finished, so a
  descriptor is never closed under a thread still using it, nor reused while
  the writer's selector still holds it.
* The main thread accepts connections and handles SIGINT/SIGTERM: the signal
  handler only counts, and the wakeup descriptor wakes the accept loop.
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
from collections.abc import Callable, Iterable
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
    OutputQueue,
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

#: Stack size of the reader threads.  Their code is shallow, and there may be thousands.
THREAD_STACK_SIZE = 256 * 1024
#: How often the shutdown wait checks for a second signal.
SIGNAL_CHECK_SECONDS = 0.1
#: How long the end of ``run`` waits for the readers of connections it shut down.
JOIN_SECONDS = 2.0


class _Phase(enum.Enum):
    """Where a connection is in its life."""

    OPEN = "open"  # the core owns it: input goes to the core, output is sent
    CLOSING = "closing"  # the core closed it: flush, FIN, discard input until EOF or the deadline
    DEAD = "dead"  # aborted or failed: nothing more is read or sent; the writer closes it


class _Connection:
    """One client socket and its output queue.

    Everything but ``sock`` is read and written with the server's lock held;
    ``readable`` uses that lock.  ``mask`` and the selector belong to the writer.
    """

    __slots__ = (
        "conn",
        "deadline",
        "eof",
        "fin_sent",
        "listed",
        "mask",
        "out",
        "paused",
        "phase",
        "readable",
        "reading",
        "sock",
    )

    def __init__(self, conn: ConnId, sock: socket.socket, lock: threading.Lock) -> None:
        self.conn = conn
        self.sock = sock
        self.out = OutputQueue()
        self.phase = _Phase.OPEN
        self.paused = False  # flood control: the reader waits before its next recv
        self.reading = True  # the reader thread has not finished
        self.eof = False  # the peer sent its FIN
        self.listed = False  # on the writer's list of connections to attend to
        self.fin_sent = False  # CLOSING and flushed: our FIN is out, the reader discards input
        self.deadline: float | None = None  # CLOSING: flushed and lingered by then, or dropped
        self.mask = 0  # EVENT_WRITE while the writer waits for room in the socket
        self.readable = threading.Condition(lock)  # a paused reader waits here

    @property
    def dead(self) -> bool:
        # The core may kill the connection in any call, so this is asked afresh
        # each time (type checkers do not narrow a property).
        return self.phase is _Phase.DEAD


class ThreadsServer:
    """The accept loop (in the calling thread), the readers, the writer; also the core's sink.

    ``run`` serves until SIGINT or SIGTERM (when called in the main thread) or
    until ``stop``; a second signal or ``stop`` cuts the shutdown short.
    """

    def __init__(self, options: ServeOptions, listener: socket.socket) -> None:
        self._listener = listener
        self._config = options.config
        self._lock = threading.Lock()
        self._all_closed = threading.Condition(self._lock)
        self._conns: ConnectionTable[_Connection] = ConnectionTable()
        self._driver = CoreDriver(options, self)
        # The writer's list, and whether a wake-up byte is on its way (lock held).
        self._listed: list[_Connection] = []
        self._signalled = False
        self._closing: dict[ConnId, _Connection] = {}  # those with a deadline
        self._stopping = False  # tells the writer to finish
        self._selector = selectors.DefaultSelector()  # the writer's: sockets waiting for room
        self._writer_r, self._writer_w = socket.socketpair()
        self._stops = 0  # signals (or stop calls) received
        self._last_accept_warning = -math.inf
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        for sock in (self._writer_r, self._writer_w, self._wakeup_r, self._wakeup_w):
            sock.setblocking(False)

    # -- running and stopping -------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; the startup line is logged once signals are handled."""
        restore_signals = self._catch_signals()
        writer = threading.Thread(target=self._writer_loop, name="chat-writer", daemon=True)
        old_stack_size = _set_stack_size(THREAD_STACK_SIZE)
        try:
            writer.start()
            announce(self._listener, "threads", self._config)
            self._accept_until_stopped()
            self._shut_down()
        finally:
            with self._lock:
                self._stopping = True
                self._wake_writer()
            if writer.ident is not None:
                writer.join(JOIN_SECONDS)
            restore_signals()
            _set_stack_size(old_stack_size)
            self._listener.close()
            for sock in (self._wakeup_r, self._wakeup_w):
                sock.close()
            if not writer.is_alive():
                for conn in self._conns:  # readers that somehow still hang on
                    conn.sock.close()
                for sock in (self._writer_r, self._writer_w):
                    sock.close()
                self._selector.close()
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
        handled = self._stops
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        if self._wait_all_closed(deadline, handled):
            return
        with self._lock:
            remaining = len(self._conns)
            for conn in self._conns:
                self._kill(conn)
        if self._stops == handled:
            log.info("shutdown: closing %d connections that did not finish in time", remaining)
        else:
            log.info("shutdown: second signal, closing %d connections now", remaining)
        self._wait_all_closed(time.monotonic() + JOIN_SECONDS, None)

    def _wait_all_closed(self, deadline: float, handled: int | None) -> bool:
        """Wait until every connection is closed (True), the deadline, or another signal."""
        with self._lock:
            while self._conns and (handled is None or self._stops == handled):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._all_closed.wait(min(left, SIGNAL_CHECK_SECONDS))
            return not self._conns

    # -- accepting (the main thread) ------------------------------------------

    def _accept_until_stopped(self) -> None:
        self._listener.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wakeup_r, selectors.EVENT_READ)
            while not self._stops:
                for key, _ in selector.select():
                    if key.fileobj is self._wakeup_r:
                        _drain(self._wakeup_r)
                    elif not self._stops:
                        self._accept()

    def _accept(self) -> None:
        """Accept what is waiting, then open the whole batch under one hold of the lock."""
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
                self._conns.add(conn.conn, conn)
                self._driver.opened(conn.conn, format_address(address))
                opened.append(conn)
        for conn in opened:
            reader = threading.Thread(
                target=self._reader, args=(conn,), name=f"chat-reader-{conn.conn}", daemon=True
            )
            try:
                reader.start()
            except RuntimeError as exc:  # out of threads or memory for stacks
                log.warning("connection %d: cannot start its reader thread: %s", conn.conn, exc)
                with self._lock:
                    self._failed(conn, None)
                    self._reader_done(conn)

    def _warn_accept(self, exc: OSError) -> None:
        """A warning at most every ten seconds: a full descriptor table repeats fast."""
        now = time.monotonic()
        level = "debug"
        if now - self._last_accept_warning >= 10.0:
            self._last_accept_warning = now
            level = "warning"
        getattr(log, level)("cannot accept: %s; pausing accepts briefly", exc.strerror)

    # -- the core's actions (lock held) -----------------------------------------

    def send(self, conns: tuple[ConnId, ...], data: bytes) -> None:
        listed = self._listed
        opened = _Phase.OPEN
        for conn in self._conns.recipients(conns):
            if conn.phase is opened:
                conn.out.append(data)
                if not conn.listed:
                    conn.listed = True
                    listed.append(conn)
        if listed and not self._signalled:
            self._wake_writer()

    def close(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is None or conn.phase is not _Phase.OPEN:
            return
        conn.phase = _Phase.CLOSING
        conn.paused = False  # input is now read and discarded
        conn.readable.notify()
        conn.deadline = time.monotonic() + CLOSE_FLUSH_SECONDS
        self._closing[conn.conn] = conn
        self._attend(conn)

    def abort(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            self._kill(conn)

    def pause_reading(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None and conn.phase is _Phase.OPEN:
            conn.paused = True
            if not self._signalled:  # the core now has a wakeup, perhaps an earlier one
                self._wake_writer()

    def resume_reading(self, conn_id: ConnId) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None and conn.paused:
            conn.paused = False
            conn.readable.notify()

    # -- bookkeeping (lock held) --------------------------------------------------

    def _attend(self, conn: _Connection) -> None:
        """Put ``conn`` on the writer's list and make sure the writer looks at it."""
        if not conn.listed:
            conn.listed = True
            self._listed.append(conn)
        if not self._signalled:
            self._wake_writer()

    def _wake_writer(self) -> None:
        self._signalled = True
        with contextlib.suppress(OSError):  # a full wakeup socket is awake already
            self._writer_w.send(b"\0")

    def _kill(self, conn: _Connection) -> None:
        """Make ``conn`` dead now: drop its output, wake its reader, have the writer close it."""
        if conn.phase is _Phase.DEAD:
            return
        conn.phase = _Phase.DEAD
        conn.out.clear()
        conn.paused = False
        conn.readable.notify()
        if conn.reading:  # wakes its blocked recv; the socket is closed once the reader is out
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        self._attend(conn)

    def _failed(self, conn: _Connection, exc: OSError | None) -> None:
        """A recv or send failed (reset, broken pipe): tell the core once, drop it."""
        if conn.phase is _Phase.DEAD:
            return  # our own shutdown woke the thread
        log.debug("connection %d: %s", conn.conn, exc)
        was_open = conn.phase is _Phase.OPEN
        self._kill(conn)
        if was_open:
            self._driver.reset(conn.conn)

    def _reader_done(self, conn: _Connection) -> None:
        conn.reading = False
        if conn.phase is _Phase.DEAD or conn.fin_sent or conn.eof:
            self._attend(conn)

    # -- the reader threads ---------------------------------------------------------

    def _reader(self, conn: _Connection) -> None:
        lock, driver, sock = self._lock, self._driver, conn.sock
        try:
            while True:
                try:
                    data = sock.recv(RECV_SIZE)
                except OSError as exc:
                    with lock:
                        self._failed(conn, exc)
                    return
                with lock:
                    if not data:
                        conn.eof = True
                    if conn.phase is _Phase.OPEN:
                        if data:
                            driver.received(conn.conn, data)
                        else:
                            driver.eof(conn.conn)
                    # CLOSING: the input is discarded until the peer's FIN.
                    if not data:
                        return
                    while conn.paused:
                        conn.readable.wait()
                    if conn.phase is _Phase.DEAD:
                        return
        except Exception:  # a bug, not a network error: log it and drop the connection
            log.exception("connection %d: reader thread failed", conn.conn)
            with lock:
                self._failed(conn, None)
        finally:
            with lock:
                self._reader_done(conn)

    # -- the writer thread ----------------------------------------------------------

    def _writer_loop(self) -> None:
        try:
            self._write_until_stopped()
        except Exception:  # a bug: nothing can be sent any more, so stop serving
            log.exception("the writer thread failed")
            self.stop()

    def _write_until_stopped(self) -> None:
        lock, driver, selector = self._lock, self._driver, self._selector
        selector.register(self._writer_r, selectors.EVENT_READ)
        timeout: float | None = None
        busy = False
        while True:
            has_room = []
            ready = selector.select(TRIM_AFTER_IDLE_SECONDS if busy and timeout is None else timeout)
            if ready:
                busy = True
            elif busy and timeout is None:  # a quiet moment after some work
                release_free_memory()
                busy = False
            for key, _ in ready:
                if key.fileobj is self._writer_r:
                    _drain(self._writer_r)
                else:
                    assert isinstance(key.data, _Connection)
                    has_room.append(key.data)
            with lock:
                if self._stopping:
                    return
                listed, self._listed = self._listed, []
                for conn in listed:
                    conn.listed = False
                now = time.monotonic()
                wakeup = driver.state.next_wakeup
                if wakeup is not None and wakeup <= now:
                    driver.tick()  # what it lists is taken next pass
                if self._closing:
                    self._expire(now)
                writes = self._take_writes(dict.fromkeys(listed + has_room) if has_room else listed)
            results = _send_all(writes)
            with lock:
                self._account(writes, results)
                # Until now, whoever lists a connection knows the writer will look again.
                self._signalled = False
                timeout = self._timeout()

    def _take_writes(self, conns: Iterable[_Connection]) -> list[tuple[_Connection, memoryview]]:
        """Settle what needs no write, and take a buffer from each connection that has output."""
        writes = []
        known = self._conns.get
        for conn in conns:
            if known(conn.conn) is None:  # closed already
                continue
            if conn.phase is _Phase.DEAD:
                if conn.reading:  # it is being shut down: stop watching it until its reader is out
                    self._watch(conn, 0)
                else:
                    self._retire(conn)
            elif conn.out:
                writes.append((conn, conn.out.next_write()))
            elif conn.phase is _Phase.CLOSING:
                self._finish(conn)
        return writes

    def _expire(self, now: float) -> None:
        """Drop closed connections that did not take their last bytes, or linger, in time."""
        for conn in list(self._closing.values()):
            if conn.deadline is not None and conn.deadline <= now:
                conn.deadline = None
                if not conn.fin_sent:
                    log.debug("connection %d: closed with %d bytes unsent", conn.conn, conn.out.size)
                self._kill(conn)

    def _account(self, writes: list[tuple[_Connection, memoryview]], results: list[int | OSError]) -> None:
        """Consume what the kernel took; report backlogs; watch full sockets for room."""
        driver = self._driver
        for (conn, view), result in zip(writes, results, strict=True):
            if conn.phase is _Phase.DEAD:
                continue  # aborted meanwhile: its output was dropped
            if isinstance(result, OSError):
                self._failed(conn, result)
                continue
            out = conn.out
            out.consume(result)
            if not out:
                self._watch(conn, 0)
                if conn.phase is _Phase.CLOSING:
                    self._finish(conn)
            elif result == len(view):  # taken in full, more queued: again next pass
                self._watch(conn, 0)
                self._attend(conn)
            else:
                # The kernel did not take it all: the core judges the slow-consumer rule on what is left.
                if conn.phase is _Phase.OPEN:
                    driver.backlog(conn.conn, out.size)
                if not conn.dead:  # not dropped as too slow
                    self._watch(conn, selectors.EVENT_WRITE)

    def _watch(self, conn: _Connection, mask: int) -> None:
        if mask == conn.mask:
            return
        if not mask:
            self._selector.unregister(conn.sock)
        else:
            self._selector.register(conn.sock, mask, conn)
        conn.mask = mask

    def _finish(self, conn: _Connection) -> None:
        """CLOSING and flushed: send our FIN, then the reader discards input until the peer's."""
        if conn.fin_sent:
            if not conn.reading:
                self._retire(conn)
            return
        if conn.eof:
            self._kill(conn)
            if not conn.reading:
                self._retire(conn)
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._failed(conn, exc)
            return
        conn.fin_sent = True
        conn.deadline = time.monotonic() + LINGER_SECONDS

    def _retire(self, conn: _Connection) -> None:
        """Close the socket (its reader is out) and forget the connection."""
        if self._conns.pop(conn.conn) is None:
            return
        self._closing.pop(conn.conn, None)
        self._watch(conn, 0)
        conn.sock.close()
        if not self._conns:
            self._all_closed.notify_all()

    def _timeout(self) -> float | None:
        """How long the writer may sleep: until the core's wakeup or the first close deadline."""
        if self._listed:
            return 0.0
        now = time.monotonic()
        wakeup = self._driver.state.next_wakeup
        candidates = [wakeup - now] if wakeup is not None else []
        candidates.extend(c.deadline - now for c in self._closing.values() if c.deadline is not None)
        return max(0.0, min(candidates)) if candidates else None


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


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while sock.recv(4096):
            pass


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
