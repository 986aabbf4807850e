"""The lab's earlier stages: ``--mode echo`` and ``--mode relay``."""

from __future__ import annotations

from .client import Client
from .conftest import StartServer
from .server import ServerProcess


def _relay_clients(server: ServerProcess, count: int) -> list[Client]:
    """``count`` relay clients, all known to the server (the last one's line reached the rest)."""
    clients = [server.connect() for _ in range(count)]
    clients[-1].send_raw(b"in\n")
    for client in clients[:-1]:
        assert client.read_line_bytes() == b"in\n"  # no welcome or notice before it
    return clients


def test_echo_returns_bytes_unchanged(start_server: StartServer) -> None:
    server = start_server("--mode", "echo")
    a, b = server.connect(), server.connect()
    data = b"hello\r\n\xff\xfe\x00 no newline " + bytes(range(256)) + "é\n".encode()
    a.send_raw(data)
    assert a.read_exact(len(data)) == data  # no welcome, nothing else first
    b.send_raw(b"PING x\n")
    assert b.read_exact(7) == b"PING x\n"  # no commands either
    a.shutdown_write()
    assert a.bytes_until_closed() == b""  # nothing of b's
    b.send_raw(b"last words, no LF")
    b.shutdown_write()
    assert b.bytes_until_closed() == b"last words, no LF"


def test_echo_large_volume(start_server: StartServer) -> None:
    server = start_server("--mode", "echo")
    a = server.connect()
    data = bytes(range(256)) * 8192  # 2 MiB in 64 KiB writes, at most 256 KiB unanswered
    chunk, window = 65536, 262144
    sent = received = 0
    while received < len(data):
        if sent < len(data) and sent - received < window:
            a.send_raw(data[sent : sent + chunk])
            sent += chunk
            continue
        size = min(sent - received, chunk)
        assert a.read_exact(size) == data[received : received + size]
        received += size
    a.shutdown_write()
    assert a.bytes_until_closed() == b""


def test_relay_lines_byte_for_byte(start_server: StartServer) -> None:
    server = start_server("--mode", "relay")
    a, b, c = _relay_clients(server, 3)
    lines = [
        b"one\r\n",
        b"\xff\x00raw\x01\n",
        b"QUIT\n",
        b"   \n",
        b"\n",
        b"HELP me\n",
        b"x" * 4096 + b"\r\n",
    ]
    a.send_raw(b"".join(lines))
    for receiver in (b, c):
        got = [receiver.read_line_bytes() for _ in lines]
        assert got == lines
    a.send_raw(b"y" * 5000 + b"\nafter\n")  # an overlong line is dropped silently
    assert b.read_line_bytes() == b"after\n"
    assert c.read_line_bytes() == b"after\n"
    b.send_raw(b"from b\n")
    assert a.read_line_bytes() == b"from b\n"  # a got none of its own lines
    assert c.read_line_bytes() == b"from b\n"


def test_relay_departures_are_silent(start_server: StartServer) -> None:
    server = start_server("--mode", "relay")
    a, b, c, d = _relay_clients(server, 4)
    a.send_raw(b"QUIT\n")
    a.shutdown_write()
    assert a.bytes_until_closed() == b""
    assert b.read_line_bytes() == b"QUIT\n"
    b.send_raw(b"unterminated")  # an unterminated last line is not relayed
    b.shutdown_write()
    assert b.bytes_until_closed() == b""
    c.send_raw(b"still here\n")
    assert d.read_line_bytes() == b"QUIT\n"
    assert d.read_line_bytes() == b"still here\n"
    c.shutdown_write()
    assert c.bytes_until_closed() == b"QUIT\n"
    d.shutdown_write()
    assert d.bytes_until_closed() == b""


def test_relay_max_line_bytes_option(start_server: StartServer) -> None:
    server = start_server("--mode", "relay", "--max-line-bytes", "8")
    a, b = _relay_clients(server, 2)
    a.send_raw(b"12345678\r\n123456789\nok\n")
    assert b.read_line_bytes() == b"12345678\r\n"
    assert b.read_line_bytes() == b"ok\n"
