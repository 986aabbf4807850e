"""Hostile bytes and broken connections: no crash, no traceback, no memory growth, no ghost users.

Each test ends with the server stopped by the fixture, which checks exit
status 0 and no traceback; the tests themselves check that nothing was logged
at warning level or above, that every client got exactly what the protocol
says, and that the server holds no socket (and WHO no user) for anyone gone.
"""

from __future__ import annotations

import random
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from adapters._listeners import KEEPALIVE_IDLE
from sansio_chat import ConnectionOpened, DataReceived, Send, ServerConfig, Tick, new_server_state
from tests.conformance.conftest import StartServer
from tests.conformance.server import OPER_PASSWORD, ServerProcess

from .checks import assert_quiet_log, assert_same_order
from .conftest import MakeSwarm
from .procfs import PeakOwnMemory, needs_procfs, open_fds
from .swarm import Peer

#: Bytes the random-input test throws, per client.
RANDOM_BYTES = 256 * 1024
#: Bytes of each endless line.
ENDLESS_BYTES = 16 * 1024 * 1024
#: Most the server may grow while clients send endless lines (it keeps at most the line limit each).
ENDLESS_GROWTH_KIB = 4 * 1024


def _core_replies(data: bytes) -> bytes:
    """What the sans-IO core sends back to a lone client that sends ``data`` (without the welcome)."""
    state = new_server_state(ServerConfig(oper_password=OPER_PASSWORD, rate_lines=0))
    out = bytearray()
    for event in (Tick(now=0.0), ConnectionOpened(conn=1, peer="test"), DataReceived(conn=1, data=data)):
        for action in state.receive(event):
            if isinstance(action, Send) and 1 in action.conns:
                out += action.data
    return bytes(out[out.index(b"\n") + 1 :])


#: Pieces for the structured fuzz: command words, blanks, line ends, bad and good UTF-8, controls.
#: Nothing that would reach other clients or change shared state (MSG, NICK, QUIT, KILL, OPER, WHO).
_PIECES = [
    b"PING",
    b"ping ",
    b"HELP",
    b"FOO",
    b"msg",
    b" ",
    b"\t",
    b"\n",
    b"\r\n",
    b"\r",
    b"\x00",
    b"\x7f",
    b"\x1b[31m",
    b"\xc2\x85",  # C1 control, valid UTF-8
    b"\xff",
    b"\xc3",  # a lead byte alone
    b"\xc0\xaf",  # overlong
    b"\xed\xa0\x80",  # a surrogate
    b"\xc3\xa9",
    b"\xe3\x80\x80",  # U+3000: text, not a blank
    b"token",
]


def _structured(rng: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        if rng.random() < 0.01:
            out += b"y" * rng.randrange(3000, 6000)  # around the 4096-byte limit
        else:
            out += rng.choice(_PIECES)
    return bytes(out)


def test_random_bytes_get_the_cores_replies(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """Random and fuzzed bytes: each client gets byte for byte what the core alone would send it."""
    server = start_server("--rate-lines", "0")
    swarm = make_swarm(server)
    (observer,) = swarm.open(1)
    hostile = swarm.open(20, keep_raw=True)
    swarm.barrier([observer])
    rng = random.Random(20261125)
    expected: dict[Peer, bytes] = {}
    end = b"\nPING fuzz-end\n"
    for i, peer in enumerate(hostile):
        data = rng.randbytes(RANDOM_BYTES) if i % 2 else _structured(rng, RANDOM_BYTES)
        assert peer.raw is not None
        expected[peer] = _core_replies(data + end)
        assert expected[peer].endswith(b"[server] PONG fuzz-end\n")
        peer.raw[:] = b""  # the welcome
        swarm.send(peer, data + end)
    pong = "[server] PONG fuzz-end"
    swarm.pump(lambda: all(pong in p.lines for p in hostile), what="every fuzzer's last PONG")
    for peer in hostile:
        assert peer.raw is not None
        got = bytes(peer.raw)
        assert got == expected[peer], f"{peer}: {len(got)} bytes, core says {len(expected[peer])}"
    assert swarm.barrier([observer]) == [[]], "a fuzzer reached another client"
    swarm.send_lines(observer, ["WHO"])
    assert swarm.barrier([observer]) == [
        [f"[server] Users ({len(hostile) + 1}): " + " ".join(p.name for p in [observer, *hostile])]
    ]
    assert_quiet_log(server)


@needs_procfs
def test_endless_lines_cost_no_memory(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """Four clients send 16 MiB lines without LF: one error each, and the server does not grow."""
    server = start_server()
    swarm = make_swarm(server)
    (observer,) = swarm.open(1)
    senders = swarm.open(4)
    swarm.barrier([observer, *senders])
    patterns = [b"x", b"\xc3\xa9", b"\r", b"\x00\xff"]  # plain, multibyte, CRs, garbage
    pong = "[server] PONG after"
    with PeakOwnMemory(server.pid) as memory:
        for peer, pattern in zip(senders, patterns, strict=True):
            swarm.send(peer, pattern * (ENDLESS_BYTES // len(pattern)) + b"\nPING after\n")
        swarm.pump(lambda: all(pong in p.lines for p in senders), what="the PONG after each endless line")
    for peer in senders:
        assert peer.take() == ["[server] Error: line too long (max 4096 bytes)", pong], peer
    assert swarm.barrier([observer]) == [[]]
    assert memory.grown <= ENDLESS_GROWTH_KIB, f"the server grew by {memory.grown} KiB on endless lines"
    assert_quiet_log(server)


def _settle_fds(server: ServerProcess, expected: int, timeout: float = 10.0) -> int:
    """Poll (bounded) until the server holds ``expected`` descriptors: closes after a linger take time."""
    deadline = time.monotonic() + timeout
    while True:
        count = open_fds(server.pid)
        if count <= expected or time.monotonic() >= deadline:
            return count
        time.sleep(0.05)


_NOTICE = re.compile(r"\[server\] (guest\d+) is (connected|disconnected)")


def _check_comings_and_goings(lines: list[str], extras: dict[str, set[str]], anonymous: set[str]) -> int:
    """Every guest seen: connected, maybe one of its ``extras`` lines, then disconnected, once each.

    A guest the test knows no name of may say one of the ``anonymous`` texts instead.
    """
    state: dict[str, str] = {}
    for line in lines:
        match = _NOTICE.fullmatch(line)
        if match:
            name, what = match[1], match[2]
            before = state.get(name)
            assert (before, what) in (
                (None, "connected"),
                ("connected", "disconnected"),
                ("said", "disconnected"),
            ), f"{name}: {what} after {before}"
            state[name] = what
            continue
        name, text = line[1:].split("] ", 1)
        allowed = line in extras[name] if name in extras else text in anonymous
        assert allowed, f"unexpected line {line!r}"
        assert state.get(name) == "connected", f"{line!r} outside the connection"
        state[name] = "said"
    ghosts = [name for name, what in state.items() if what != "disconnected"]
    assert not ghosts, f"never disconnected: {ghosts[:10]}"
    return len(state)


def _raw_connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=5)


def _rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@needs_procfs
def test_connect_and_reset_storm_leaves_no_ghosts(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """A thousand connections reset (SO_LINGER 0) at every stage of their life."""
    server = start_server()
    swarm = make_swarm(server)
    regulars = swarm.open(10)
    swarm.barrier(regulars)
    fds = open_fds(server.pid)
    extras: dict[str, set[str]] = {}
    waves, per_kind = 10, 20
    for _ in range(waves):
        for _ in range(per_kind):  # reset at once, before or after the server accepted it
            _rst(_raw_connect(server))
        for _ in range(per_kind):  # a partial line, then reset (handled as a last line if read in time)
            sock = _raw_connect(server)
            sock.sendall(b"MSG never fin")
            _rst(sock)
        for _ in range(per_kind):  # a plain close without reading (unread welcome: also an RST)
            _raw_connect(server).close()
        talkers = swarm.open(per_kind)
        for peer in talkers:  # a whole line, then reset
            swarm.send_lines(peer, [f"MSG hi from {peer.name}"])
            extras[peer.name] = {f"[{peer.name}] hi from {peer.name}"}
            swarm.reset(peer)
        quitters = swarm.open(per_kind)
        for peer in quitters:  # QUIT, then reset while the server lingers on it
            swarm.send_lines(peer, ["QUIT bye"])
            extras[peer.name] = {f"[{peer.name}] bye"}
            swarm.reset(peer)
        hoarders = swarm.open(per_kind, rcvbuf=4096)
        for peer in hoarders:  # output piled up unread (HELP x 90), then reset
            swarm.stop_reading(peer)
            swarm.send_lines(peer, ["HELP"] * 90)
            swarm.reset(peer)
        swarm.step(0)
    storm = waves * per_kind * 6
    watcher = regulars[0]

    def all_gone() -> bool:
        gone = sum(1 for line in watcher.lines if line.endswith(" is disconnected"))
        came = sum(1 for line in watcher.lines if line.endswith(" is connected"))
        return came >= storm - 3 * waves * per_kind and gone == came

    swarm.pump(all_gone, what="every stormer announced gone")
    order = assert_same_order(
        {p.name: lines for p, lines in zip(regulars, swarm.barrier(regulars), strict=True)}
    )
    seen = _check_comings_and_goings(order, extras, {"never fin"})
    assert seen >= storm - 3 * waves * per_kind  # raw ones may be refused before the server saw them
    swarm.send_lines(watcher, ["WHO"])
    assert swarm.barrier([watcher]) == [["[server] Users (10): " + " ".join(p.name for p in regulars)]]
    left = _settle_fds(server, fds)
    assert left <= fds, f"the server holds {left} descriptors, {fds} before the storm"
    assert_quiet_log(server)


@needs_procfs
def test_half_closed_clients(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """Clients that half-close: their last lines are handled, they get every reply, then the server closes."""
    server = start_server()
    swarm = make_swarm(server)
    regulars = swarm.open(20)
    talkers = swarm.open(200)
    silent = swarm.open(50)
    swarm.barrier([*regulars, *talkers, *silent])
    fds = open_fds(server.pid) - len(talkers) - len(silent)
    for i, peer in enumerate(talkers):  # the last line without LF: handled at EOF
        swarm.send(peer, f"MSG bye {i}\nPING half-{i}".encode())
        swarm.shutdown_write(peer)
    for peer in silent:  # a FIN and nothing else, and never a read again
        swarm.stop_reading(peer)
        swarm.shutdown_write(peer)
    watcher = regulars[0]
    leaving = len(talkers) + len(silent)
    swarm.pump(
        lambda: (
            all(p.done for p in talkers)
            and sum(line.endswith(" is disconnected") for line in watcher.lines) == leaving
        ),
        what="every half-closed client closed",
    )
    order = assert_same_order(
        {p.name: lines for p, lines in zip(regulars, swarm.barrier(regulars), strict=True)}
    )
    leavers = {p.name for p in [*talkers, *silent]}
    for line in order:
        name = line.split()[1] if line.startswith("[server]") else line[1 : line.index("]")]
        assert name in leavers, line
    for i, peer in enumerate(talkers):
        assert peer.eof and not peer.reset, f"{peer}: {peer.failed}"
        lines = peer.take()
        pong = f"[server] PONG half-{i}"
        assert lines.count(pong) == 1, f"{peer}: {lines[-3:]}"
        at = lines.index(pong)
        lines.remove(pong)
        said = order.index(f"[{peer.name}] bye {i}")
        gone = order.index(f"[server] {peer.name} is disconnected")
        assert lines == order[:said] + order[said + 1 : gone], (
            f"{peer}: not the others' order up to its leaving"
        )
        assert at >= said, f"{peer}: PONG before its own message was handled"
    for peer in silent:
        assert f"[server] {peer.name} is disconnected" in order
    assert len(order) == 2 * len(talkers) + len(silent)
    swarm.send_lines(watcher, ["WHO"])
    assert swarm.barrier([watcher]) == [["[server] Users (20): " + " ".join(p.name for p in regulars)]]
    left = _settle_fds(server, fds)
    assert left <= fds, f"the server holds {left} descriptors for 20 clients, {fds} expected"
    assert_quiet_log(server)


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to see the server's sockets")
def test_keepalive_on_client_sockets(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """Every accepted socket has TCP keepalive armed (seen with ``ss -o`` on the server's side)."""
    server = start_server()
    swarm = make_swarm(server)
    peers = swarm.open(5)
    swarm.barrier(peers)
    # A socket with unacknowledged data shows its retransmission timer instead: poll (bounded)
    # until the client's delayed ACKs are in and every socket shows the keepalive timer.
    deadline = time.monotonic() + 5
    while True:
        result = subprocess.run(
            ["ss", "-tnoH", "state", "established", f"( sport = :{server.port} )"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        sockets = [line for line in result.stdout.splitlines() if line.strip()]
        if all("timer:(keepalive" in line for line in sockets) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(sockets) == len(peers), result.stdout
    for line in sockets:
        match = re.search(r"timer:\(keepalive,(?:(\d+)min)?(\d+(?:\.\d+)?)(m?s)ec", line)
        assert match, f"no keepalive timer on a client socket: {line}"
        minutes, value, unit = match.groups()
        seconds = int(minutes or 0) * 60 + float(value) / (1000 if unit == "ms" else 1)
        assert 0 < seconds <= KEEPALIVE_IDLE, line
    assert_quiet_log(server)
