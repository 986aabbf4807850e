"""Many client connections driven by one thread: non-blocking sockets and one selector.

``tests.conformance.client.Client`` blocks on one socket at a time, which is
right for a handful of clients and wrong for a thousand: while a test reads
one client, the others stop reading, their backlog grows, and the server
drops them as too slow (correctly).  A ``Swarm`` keeps every connection
reading all the time: whatever the test waits for, it waits in ``pump``,
which receives on every readable socket and sends what each peer has queued.

Every wait is bounded twice, in time (``timeout``) and in work (the load a
test puts in is finite and counted), and ends on something the server did,
never on a sleep: a welcome line, a ``PONG`` to a ``PING`` (the barrier: the
server answers a connection's lines in order), an EOF.
"""

from __future__ import annotations

import contextlib
import errno
import re
import selectors
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence

#: Bytes asked of the kernel per ``recv``.
RECV_SIZE = 256 * 1024
#: Most bytes offered per ``send``.
SEND_SIZE = 1024 * 1024
#: Connections that may wait for their welcome at once while opening.
IN_FLIGHT = 200
#: Default bound on one wait, in seconds.
TIMEOUT = 30.0
#: Longest a single ``select`` may sleep, so that deadlines are checked often.
SELECT_SLICE = 0.05

_WELCOME = re.compile(r"\[server\] Welcome to the chat, (guest(\d+))! Type HELP for the list of commands\.")
_LINGER_RESET = struct.pack("ii", 1, 0)


class Peer:
    """One connection of a swarm, and what it has received.

    Complete lines land in ``lines`` (decoded, without LF) until a test takes
    them.  In ``count_only`` mode they are only counted (``line_count``),
    which is what a run with tens of millions of lines can afford.
    """

    __slots__ = (
        "awaiting",
        "barrier_lines",
        "count_only",
        "ended",
        "eof",
        "failed",
        "fd",
        "greeted",
        "line_count",
        "lines",
        "mask",
        "name",
        "number",
        "out",
        "out_pos",
        "pings",
        "raw",
        "reading",
        "received",
        "reset",
        "sent",
        "shut_when_sent",
        "sock",
        "tail",
        "write_closed",
    )

    def __init__(self, sock: socket.socket, *, count_only: bool, keep_raw: bool) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.name = ""  # the guest nickname from the welcome line
        self.number = 0  # N of guestN: the server's admission order
        self.count_only = count_only
        self.lines: list[str] = []
        self.line_count = 0  # complete lines received, welcome included
        self.received = 0  # bytes received
        self.raw: bytearray | None = bytearray() if keep_raw else None
        self.tail = bytearray()  # bytes after the last LF
        self.out = bytearray()
        self.out_pos = 0
        self.sent = 0  # bytes the kernel took
        self.reading = True  # False: the test stopped reading (a slow consumer)
        self.eof = False
        self.reset = False  # a recv or send failed (ECONNRESET, EPIPE...)
        self.failed: OSError | None = None
        self.greeted = False  # its first line came, or it ended before any
        self.ended = False
        self.write_closed = False
        self.shut_when_sent = False  # half-close once ``out`` has gone out
        self.mask = 0
        self.pings = 0
        self.awaiting: str | None = None  # the PONG line of a pending barrier
        self.barrier_lines: list[str] | None = None  # lines before that PONG, once it came
        # (a barrier in count-only mode leaves only ``line_count`` to look at)

    def __repr__(self) -> str:
        return f"<Peer {self.name or '?'} fd={self.fd}>"

    @property
    def done(self) -> bool:
        """Nothing more can be read: EOF or a failed socket."""
        return self.eof or self.reset

    @property
    def unsent(self) -> int:
        return len(self.out) - self.out_pos

    def take(self) -> list[str]:
        """The complete lines received so far, removed from the peer."""
        lines, self.lines = self.lines, []
        return lines


class Swarm:
    """Opens peers to one server and pumps them all until a condition holds."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.peers: list[Peer] = []
        self._selector = selectors.DefaultSelector()
        self._by_fd: dict[int, Peer] = {}
        self._connecting: set[Peer] = set()
        self._unwelcomed = 0  # opened and not yet past their first line
        self._awaiting = 0  # barriers not yet answered
        self.done_count = 0  # peers that reached EOF or failed
        self.fin_on_eof = False  # answer the server's FIN with ours, as most clients do

    # -- opening ----------------------------------------------------------------

    def open(
        self,
        count: int,
        *,
        rcvbuf: int | None = None,
        count_only: bool = False,
        keep_raw: bool = False,
        welcome: bool = True,
        in_flight: int = IN_FLIGHT,
        timeout: float = TIMEOUT,
    ) -> list[Peer]:
        """Open ``count`` connections, at most ``in_flight`` waiting for their welcome at once.

        With ``welcome`` each must get a welcome line first (its name is taken
        from it and the line is consumed), else opening fails.  Every peer,
        old and new, reads all along.  The peers come back in admission
        order (their guest number) when welcomed, in opening order otherwise.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        new: list[Peer] = []
        deadline = time.monotonic() + timeout
        while len(new) < count:
            while len(new) < count and self._unwelcomed < in_flight:
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                if rcvbuf is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                err = sock.connect_ex((self.host, self.port))
                if err not in (0, errno.EINPROGRESS):
                    sock.close()
                    raise OSError(err, f"connect to {self.host}:{self.port}: {errno.errorcode.get(err)}")
                peer = Peer(sock, count_only=count_only, keep_raw=keep_raw)
                self.peers.append(peer)
                self._by_fd[peer.fd] = peer
                self._connecting.add(peer)
                self._unwelcomed += 1
                self._update(peer)
                new.append(peer)
            self._step(deadline)
            if time.monotonic() >= deadline:
                raise AssertionError(f"opening {count} connections: only {len(new)} started in {timeout} s")
        self.pump(lambda: self._unwelcomed == 0, deadline - time.monotonic(), f"{count} welcome lines")
        if welcome:
            missing = [p for p in new if not p.name]
            assert not missing, f"{len(missing)} peers got no welcome, e.g. {missing[0]}: {missing[0].lines}"
            new.sort(key=lambda p: p.number)
        return new

    # -- sending ------------------------------------------------------------------

    def send(self, peer: Peer, data: bytes) -> None:
        """Queue ``data``; it goes out as the peer's socket takes it, during pumps."""
        if peer.write_closed or peer.reset:
            return
        peer.out += data
        self._flush(peer)

    def send_lines(self, peer: Peer, lines: Iterable[str]) -> None:
        self.send(peer, "".join(f"{line}\n" for line in lines).encode())

    def shutdown_write(self, peer: Peer) -> None:
        """Half-close once everything queued has gone out."""
        peer.shut_when_sent = True
        self._flush(peer)

    def stop_reading(self, peer: Peer) -> None:
        peer.reading = False
        self._update(peer)

    def start_reading(self, peer: Peer) -> None:
        peer.reading = True
        self._update(peer)

    def reset(self, peer: Peer) -> None:
        """Close with an RST (SO_LINGER zero), dropping whatever is unread or unsent."""
        if peer.fd in self._by_fd:
            peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self._forget(peer)

    def close(self, peer: Peer) -> None:
        """An ordinary close (a FIN, or an RST if input was left unread)."""
        self._forget(peer)

    def close_all(self) -> None:
        for peer in list(self._by_fd.values()):
            self._forget(peer)
        self._selector.close()

    # -- barriers -----------------------------------------------------------------

    def barrier(self, peers: Sequence[Peer], timeout: float = TIMEOUT) -> list[list[str]]:
        """Every peer sends a fresh ``PING``; pump until each has its ``PONG``.

        Returns, per peer, the lines that arrived before its ``PONG`` (taken
        from it; lines after the ``PONG`` stay).  In count-only mode the lists
        are empty: look at ``line_count``, which the ``PONG`` does not count.
        """
        for peer in peers:
            assert peer.awaiting is None, f"{peer}: barrier already pending"
            peer.pings += 1
            token = f"b{peer.pings}"
            peer.awaiting = f"[server] PONG {token}"
            peer.barrier_lines = None
            self._awaiting += 1
            self.send(peer, f"PING {token}\n".encode())
        self.pump(lambda: self._awaiting == 0, timeout, f"barrier over {len(peers)} peers", peers)
        result = []
        for peer in peers:
            assert peer.barrier_lines is not None
            result.append(peer.barrier_lines)
            peer.barrier_lines = None
        return result

    # -- pumping ------------------------------------------------------------------

    def pump(
        self,
        until: Callable[[], bool],
        timeout: float = TIMEOUT,
        what: str = "condition",
        watch: Sequence[Peer] = (),
    ) -> float:
        """Receive and send until ``until()`` holds; its time taken; AssertionError after ``timeout``."""
        started = time.monotonic()
        deadline = started + timeout
        while not until():
            if time.monotonic() >= deadline:
                stuck = [p for p in watch or self.peers if p.awaiting or not p.greeted][:3]
                raise AssertionError(
                    f"timed out after {timeout:.1f} s waiting for {what}; e.g. "
                    + "; ".join(f"{p}: awaiting {p.awaiting!r}, last lines {p.lines[-3:]!r}" for p in stuck)
                )
            self._step(deadline)
        return time.monotonic() - started

    def step(self, max_wait: float = SELECT_SLICE) -> None:
        """One pass: wait at most ``max_wait`` for activity and handle what is ready."""
        self._step(time.monotonic() + max_wait)

    def pump_for(self, seconds: float) -> None:
        """Keep every peer reading and sending for ``seconds`` (a load phase, not a wait)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._step(end)

    def _step(self, deadline: float) -> None:
        timeout = max(0.0, min(SELECT_SLICE, deadline - time.monotonic()))
        for key, events in self._selector.select(timeout):
            peer: Peer = key.data
            if peer in self._connecting:
                self._connected(peer)
                continue
            if events & selectors.EVENT_READ:
                self._read(peer)
            if events & selectors.EVENT_WRITE and peer.fd in self._by_fd:
                self._flush(peer)

    def _connected(self, peer: Peer) -> None:
        self._connecting.discard(peer)
        err = peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"{peer}: connect failed: {errno.errorcode.get(err)}")
        self._update(peer)
        self._flush(peer)

    def _read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._failed(peer, exc)
            return
        if not data:
            peer.eof = True
            if self.fin_on_eof and not peer.write_closed:
                peer.write_closed = True
                with contextlib.suppress(OSError):
                    peer.sock.shutdown(socket.SHUT_WR)
            self._end(peer)
            self._update(peer)
            return
        peer.received += len(data)
        if peer.raw is not None:
            peer.raw += data
        if peer.count_only and peer.greeted:
            self._count(peer, data)
            return
        end = data.rfind(b"\n")
        if end < 0:
            peer.tail += data
            return
        if peer.tail:
            chunk = bytes(peer.tail) + data[: end + 1]
            peer.tail.clear()
        else:
            chunk = data[: end + 1]
        peer.tail += data[end + 1 :]
        lines = chunk.decode("utf-8", "surrogateescape").split("\n")
        lines.pop()
        if not peer.greeted:
            self._welcomed(peer, lines)
            if peer.count_only:
                peer.line_count += len(lines)
                return
        if peer.awaiting is not None and peer.awaiting in lines:
            cut = lines.index(peer.awaiting)
            peer.barrier_lines = peer.lines + lines[:cut]
            peer.lines = lines[cut + 1 :]
            peer.line_count += len(lines) - 1
            peer.awaiting = None
            self._awaiting -= 1
            return
        peer.line_count += len(lines)
        peer.lines += lines

    def _welcomed(self, peer: Peer, lines: list[str]) -> None:
        """The first line: the welcome (consumed, name taken) or whatever else came (kept)."""
        self._greet(peer)
        match = _WELCOME.fullmatch(lines[0])
        if match:
            peer.name, peer.number = match[1], int(match[2])
            del lines[0]
            peer.line_count += 1

    def _greet(self, peer: Peer) -> None:
        if not peer.greeted:
            peer.greeted = True
            self._unwelcomed -= 1

    def _count(self, peer: Peer, data: bytes) -> None:
        """Count-only mode: count LFs, and find a pending PONG line across chunk boundaries."""
        window = bytes(peer.tail) + data  # the tail holds no LF: window starts a line
        if peer.awaiting is not None:
            needle = peer.awaiting.encode() + b"\n"
            at = window.find(needle)
            while at > 0 and window[at - 1] != 0x0A:  # inside another line: look further
                at = window.find(needle, at + 1)
            if at >= 0:
                peer.line_count += window.count(b"\n") - 1
                peer.awaiting = None
                peer.barrier_lines = []
                self._awaiting -= 1
                peer.tail[:] = window[window.rfind(b"\n") + 1 :]
                return
        peer.line_count += data.count(b"\n")
        end = window.rfind(b"\n")
        peer.tail[:] = window[end + 1 :]

    def _flush(self, peer: Peer) -> None:
        if peer in self._connecting or peer.fd not in self._by_fd:
            return
        while peer.out_pos < len(peer.out):
            offered = min(SEND_SIZE, len(peer.out) - peer.out_pos)
            with memoryview(peer.out) as whole, whole[peer.out_pos : peer.out_pos + offered] as view:
                try:
                    sent = peer.sock.send(view)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    failure = exc
                    sent = -1
            if sent < 0:
                self._failed(peer, failure)
                return
            peer.out_pos += sent
            peer.sent += sent
            if sent < offered:
                break
        if peer.out_pos >= len(peer.out):
            peer.out.clear()
            peer.out_pos = 0
            if peer.shut_when_sent and not peer.write_closed:
                peer.write_closed = True
                try:
                    peer.sock.shutdown(socket.SHUT_WR)
                except OSError as exc:
                    self._failed(peer, exc)
                    return
        elif peer.out_pos > SEND_SIZE:
            del peer.out[: peer.out_pos]
            peer.out_pos = 0
        self._update(peer)

    def _failed(self, peer: Peer, exc: OSError) -> None:
        peer.failed = peer.failed or exc
        peer.reset = True
        peer.out.clear()
        peer.out_pos = 0
        self._end(peer)
        self._update(peer)

    def _end(self, peer: Peer) -> None:
        """No more input for this peer: settle what waits on it (once)."""
        if peer.ended:
            return
        peer.ended = True
        self.done_count += 1
        self._greet(peer)
        if peer.awaiting is not None:
            peer.awaiting = None
            self._awaiting -= 1
            raise AssertionError(
                f"{peer}: connection ended ({peer.failed or 'EOF'}) during a barrier; "
                f"last lines: {peer.lines[-5:]!r}"
            )

    def _forget(self, peer: Peer) -> None:
        if self._by_fd.pop(peer.fd, None) is None:
            return
        if peer.mask:
            self._selector.unregister(peer.sock)
            peer.mask = 0
        self._connecting.discard(peer)
        self._greet(peer)
        peer.sock.close()

    def _update(self, peer: Peer) -> None:
        if peer.fd not in self._by_fd:
            return
        if peer in self._connecting:
            wanted = selectors.EVENT_WRITE
        else:
            wanted = 0
            if peer.reading and not peer.done:
                wanted |= selectors.EVENT_READ
            if peer.out_pos < len(peer.out) and not peer.reset:
                wanted |= selectors.EVENT_WRITE
        if wanted == peer.mask:
            return
        if not wanted:
            self._selector.unregister(peer.sock)
        elif not peer.mask:
            self._selector.register(peer.sock, wanted, peer)
        else:
            self._selector.modify(peer.sock, wanted, peer)
        peer.mask = wanted
