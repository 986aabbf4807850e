"""Connections coming and going: EOF, half-close, reset, refusal, shutdown, IPv6."""

from __future__ import annotations

import re
import signal
import socket

import pytest

from .client import ClosedError
from .conftest import StartServer
from .server import OPER_PASSWORD, ServerProcess


def _ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback")


def test_eof_after_unterminated_line(server: ServerProcess) -> None:
    a, b, x = server.join(), server.join(), server.join()
    a.ping_barrier()
    b.ping_barrier()
    x.send_raw(b"MSG first\nMSG bye")
    x.shutdown_write()
    x.expect_closed()
    for other in (a, b):
        assert other.ping_barrier() == [
            "[guest3] first",
            "[guest3] bye",
            "[server] guest3 is disconnected",
        ]


def test_eof_after_unterminated_command(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.send_raw(b"PING last\r")  # the CR of a CRLF cut short by EOF is dropped too
    x.shutdown_write()
    x.expect_closed("[server] PONG last")
    assert a.ping_barrier() == ["[server] guest2 is disconnected"]


def test_eof_after_unterminated_quit(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.send_raw(b"QUIT see you")
    x.shutdown_write()
    x.expect_closed("[server] Goodbye, guest2.")
    assert a.ping_barrier() == ["[guest2] see you", "[server] guest2 is disconnected"]


def test_eof_after_unterminated_overlong_line(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.send_raw(b"MSG " + b"q" * 5000)
    x.expect("[server] Error: line too long (max 4096 bytes)")
    x.shutdown_write()
    x.expect_closed()
    assert a.ping_barrier() == ["[server] guest2 is disconnected"]


def test_plain_eof(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.shutdown_write()
    x.expect_closed()
    assert a.ping_barrier() == ["[server] guest2 is disconnected"]


def test_half_close_still_gets_replies(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.send_raw(b"PING one\nWHO\nHELP\nMSG hi\nPING two")
    x.shutdown_write()
    lines = x.lines_until_closed()
    assert lines[:2] == ["[server] PONG one", "[server] Users (2): guest1 guest2"]
    assert lines[-1] == "[server] PONG two"
    assert all(line.startswith("[server] ") for line in lines[2:-1])
    assert a.ping_barrier() == ["[guest2] hi", "[server] guest2 is disconnected"]


def test_reset_is_a_departure(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.reset()
    a.expect("[server] guest2 is disconnected")  # no barrier can order it: wait for it
    a.send_line("WHO")
    a.expect("[server] Users (1): guest1")


def test_reset_with_unread_output(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.send_raw(b"HELP\nHELP\nHELP\n")
    x.send_line("PING sync")
    x.read_line()  # some output arrived; the rest is left unread
    x.reset()
    a.expect("[server] guest2 is disconnected")
    a.expect_quiet()


def test_server_full(start_server: StartServer) -> None:
    server = start_server("--max-clients", "2")
    a, b = server.join("guest1"), server.join("guest2")
    a.ping_barrier()
    refused = server.connect()
    refused.expect_closed("[server] Error: server full")
    a.expect_quiet()
    b.expect_quiet()
    b.send_line("QUIT")
    b.expect_closed("[server] Goodbye, guest2.")
    assert a.ping_barrier() == ["[server] guest2 is disconnected"]
    c = server.join()
    a.expect(f"[server] {c.name} is connected")
    server.connect().expect_closed("[server] Error: server full")
    a.send_line("WHO")
    assert a.ping_barrier() == [f"[server] Users (2): guest1 {c.name}"]


def test_refused_client_sending_data(start_server: StartServer) -> None:
    server = start_server("--max-clients", "1")
    a = server.join()
    refused = server.connect()
    refused.send_raw(b"MSG let me in\nNICK x\n" * 100)
    try:
        lines = refused.lines_until_closed()
    except ConnectionResetError:
        pytest.fail("refused client got a reset instead of the error line and a FIN")
    assert lines == ["[server] Error: server full"]
    a.expect_quiet()


def test_refusals_not_yet_counted_in_the_log_are_counted_before_the_shutdown(
    start_server: StartServer,
) -> None:
    server = start_server("--max-clients", "1")
    server.join()
    for _ in range(3):  # the first is logged with its address, the others counted (at most a line a second)
        server.connect().expect_closed("[server] Error: server full")
    assert server.terminate() == 0
    lines = server.output.splitlines()
    shutdown = next(at for at, line in enumerate(lines) if "shutting down, closing 1 connection" in line)
    refusals = [line for line in lines[:shutdown] if ": refused " in line]
    counted = [re.search(r"refused (\d+) more connections?: server full$", line) for line in refusals]
    assert len(refusals) + sum(int(match[1]) - 1 for match in counted if match) == 3, lines
    assert not any(": refused " in line for line in lines[shutdown:]), lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_signal(start_server: StartServer, sig: signal.Signals) -> None:
    server = start_server()
    a, b, c = server.join(), server.join(), server.join()
    a.ping_barrier()
    b.ping_barrier()
    b.send_raw(b"MSG half a line")  # pending input does not delay shutdown
    c.send_raw(b"HELP\n" * 50)  # output queued for a client that has not read it yet
    assert c.ping_barrier()
    server.send_signal(sig)
    for client in (a, b, c):
        assert client.lines_until_closed() == ["[server] Server is shutting down"]
        client.close()
    assert server.wait() == 0


def test_shutdown_flushes_unread_output(start_server: StartServer) -> None:
    server = start_server("--rate-lines", "0")
    a = server.join(rcvbuf=4096)
    b = server.join()
    a.send_raw(b"HELP\n" * 200 + b"MSG done\n")  # about 100 KB of replies, unread until the end
    b.expect("[guest1] done")  # so the server has handled every HELP
    server.send_signal()
    assert b.lines_until_closed() == ["[server] Server is shutting down"]
    lines = a.lines_until_closed()
    a.close()
    b.close()
    assert server.wait() == 0
    assert lines[0] == "[server] guest2 is connected"
    assert lines[-1] == "[server] Server is shutting down"
    assert len(lines) == 2 + 200 * len(lines[1:-1]) // 200
    assert lines[1:-1] == lines[1 : len(lines[1:-1]) // 200 + 1] * 200


def test_shutdown_without_clients(start_server: StartServer) -> None:
    server = start_server()
    server.join("guest1").close()
    assert server.terminate() == 0
    with pytest.raises(ConnectionRefusedError):
        server.connect()


@needs_ipv6
def test_ipv6_loopback(start_server: StartServer) -> None:
    server = start_server(host="::1")
    a, b = server.join(), server.join()
    a.expect("[server] guest2 is connected")
    b.send_line("MSG over IPv6")
    assert b.ping_barrier() == []
    assert a.ping_barrier() == ["[guest2] over IPv6"]


@needs_ipv6
def test_dual_stack(start_server: StartServer) -> None:
    server = start_server(host="::")
    a = server.join(host="::1")
    try:
        b = server.join(host="127.0.0.1")
    except ConnectionRefusedError:
        pytest.fail("--host :: does not accept IPv4 connections (not dual-stack)")
    a.expect("[server] guest2 is connected")
    b.send_line("MSG over IPv4")
    assert b.ping_barrier() == []
    assert a.ping_barrier() == ["[guest2] over IPv4"]


def test_closed_connection_raises(server: ServerProcess) -> None:
    a = server.join()
    a.send_line("QUIT")
    a.expect_closed("[server] Goodbye, guest1.")
    with pytest.raises(ClosedError):
        a.read_line()


def test_quit_followed_by_much_input_closes_cleanly(server: ServerProcess) -> None:
    a, x = server.join(), server.join()
    a.ping_barrier()
    # Unread input at close would make the kernel send an RST that can destroy the
    # Goodbye in flight; the server must keep reading (and discarding) until our FIN.
    x.send_raw(b"QUIT bye\n" + b"MSG ignored\n" * 100_000)
    x.shutdown_write()
    x.expect_closed("[server] Goodbye, guest2.")
    assert a.ping_barrier() == ["[guest2] bye", "[server] guest2 is disconnected"]


def test_kill_of_a_paused_flooder_closes_cleanly(start_server: StartServer) -> None:
    server = start_server("--rate-lines", "5", "--rate-burst", "1")
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.send_raw(b"MSG x\n" * 5000)  # held back by flood control, mostly unread
    a.send_line(f"OPER {OPER_PASSWORD}")
    a.send_line("KILL guest2 enough")
    x.expect_closed("[guest1] enough", "[server] You have been killed by guest1")
    lines = a.ping_barrier()
    assert "[server] You are now an operator" in lines
    lines.remove("[server] You are now an operator")
    assert lines[-1] == "[server] guest2 is disconnected (killed by guest1)"
    assert set(lines[:-1]) <= {"[guest2] x"}


def test_a_paused_flooder_that_resets_leaves_with_its_held_lines_dropped(start_server: StartServer) -> None:
    server = start_server("--rate-lines", "5", "--rate-burst", "1")
    a, x = server.join(), server.join()
    a.ping_barrier()
    x.send_raw(b"MSG x\n" * 5000)  # held back by flood control: a thousand seconds of lines
    a.expect("[guest2] x")  # the burst: the server has read it and holds the rest
    x.reset()
    # A paused connection is checked for a reset once a second: the notice comes within a few
    # seconds, not when the held lines would have run out, and none of them follows it.
    lines = [a.read_line(timeout=5.0)]
    while lines[-1] == "[guest2] x" and len(lines) < 30:
        lines.append(a.read_line(timeout=5.0))
    assert lines[-1] == "[server] guest2 is disconnected"
    assert len(lines) < 30
    assert a.ping_barrier() == []
