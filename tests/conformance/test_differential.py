"""One scripted multi-client session, byte-identical on every backend.

Ping barriers sequence the clients, so what each client receives is fully
determined by the protocol.  Every backend the command line offers runs it,
and each transcript must equal the one expected here byte for byte, so the
backends are byte-identical to each other.
"""

from __future__ import annotations

import importlib.util

import pytest

from adapters.cli import BACKENDS
from tests.expected import HELP, WELCOME

from .server import OPER_PASSWORD, ServerProcess

#: Every backend, and the options that change how a backend waits or schedules.
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{name: (name, ()) for name in BACKENDS},
    "select-classic": ("select", ("--selector", "select")),
    "asyncio-uvloop": ("asyncio", ("--loop", "uvloop")),  # when uvloop is installed (an extra)
}


def _pong(n: int) -> str:
    return f"[server] PONG barrier-{n}"


EXPECTED: dict[str, list[str]] = {
    "a": [
        WELCOME.format("guest1"),
        "[server] guest2 is connected",
        _pong(1),
        "[server] guest2 is now known as bob",
        _pong(2),
        "[server] guest3 is connected",
        _pong(3),
        "[server] bob is disconnected (killed by guest3)",
        _pong(4),
        "[server] guest4 is connected",
        _pong(5),
        "[guest4] partial last line",
        "[server] guest4 is disconnected",
        _pong(6),
        "[server] guest5 is connected",
        "[server] guest5 is disconnected (too many failed OPER attempts)",
        _pong(7),
        "[server] Goodbye, guest1.",
    ],
    "b": [
        WELCOME.format("guest2"),
        "[guest1] hello  world",
        "[server] You are now known as bob",
        _pong(1),
        "[server] guest3 is connected",
        _pong(2),
        "[guest3] bye  bob",
        "[server] You have been killed by guest3",
    ],
    "c": [
        WELCOME.format("guest3"),
        "[server] Error: nickname BOB is already in use",
        "[server] Error: invalid nickname 9x",
        "[server] Error: usage: NICK <nickname>",
        "[server] Users (3): guest1 bob guest3",
        "[server] Error: invalid command FOO",
        "[server] Error: usage: MSG <text>",
        "[server] Error: invalid UTF-8",
        "[server] Error: control characters are not allowed",
        "[server] Error: line too long (max 4096 bytes)",
        _pong(1),
        "[server] Error: wrong password",
        "[server] Error: permission denied, use OPER first",
        "[server] You are now an operator",
        "[server] Error: no such nickname nobody",
        "[server] Error: use QUIT to leave",
        _pong(2),
        "[server] bob is disconnected (killed by guest3)",
        _pong(3),
        "[server] guest4 is connected",
        _pong(4),
        "[guest4] partial last line",
        "[server] guest4 is disconnected",
        _pong(5),
        "[server] guest5 is connected",
        "[server] guest5 is disconnected (too many failed OPER attempts)",
        _pong(6),
        "[guest1] so long",
        "[server] guest1 is disconnected",
        "[server] Users (1): guest3",
        *HELP,
        "[server] PONG",
        _pong(7),
        "[server] Goodbye, guest3.",
    ],
    "d": [WELCOME.format("guest4")],
    "e": [
        WELCOME.format("guest5"),
        "[server] Error: wrong password",
        "[server] Error: wrong password",
        "[server] Error: too many failed OPER attempts",
    ],
}


def run_session(server: ServerProcess) -> dict[str, bytes]:
    """The script; returns every byte each client received."""
    a = server.join("guest1")
    b = server.join("guest2")
    a.expect("[server] guest2 is connected")
    a.send_line("MSG hello  world")
    a.ping_barrier()
    b.send_line("NICK bob")
    b.ping_barrier()
    a.ping_barrier()

    c = server.join("guest3")
    a.ping_barrier()
    b.ping_barrier()
    for line in ("NICK BOB", "NICK 9x", "NICK", "WHO", "FOO bar", "MSG"):
        c.send_line(line)
    c.send_raw(b"MSG \xff\r\nMSG a\x7fb\nMSG " + b"z" * 5000 + b"\n")
    c.ping_barrier()
    for line in ("OPER nope", "KILL bob", f"OPER {OPER_PASSWORD}", "KILL nobody", "KILL guest3"):
        c.send_line(line)
    c.ping_barrier()
    c.send_line("KILL BOB  bye  bob")
    b.lines_until_closed()
    a.ping_barrier()
    c.ping_barrier()

    d = server.join("guest4")
    a.ping_barrier()
    c.ping_barrier()
    d.send_raw(b"MSG partial last line")
    d.shutdown_write()
    d.lines_until_closed()
    a.ping_barrier()
    c.ping_barrier()

    e = server.join("guest5")
    for password in ("x", "y", "z"):
        e.send_line(f"OPER {password}")
    e.lines_until_closed()
    a.ping_barrier()
    c.ping_barrier()

    a.send_line("QUIT so long")
    a.lines_until_closed()
    c.send_line("WHO")
    c.send_line("HELP")
    c.send_line("PING")
    c.ping_barrier()
    c.send_line("QUIT")
    c.lines_until_closed()
    return {name: bytes(client.received) for name, client in zip("abcde", (a, b, c, d, e), strict=True)}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_scripted_session(variant: str) -> None:
    backend, args = VARIANTS[variant]
    if "uvloop" in args and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed (pip install uvloop)")
    server = ServerProcess(backend, args)
    try:
        transcripts = run_session(server)
    finally:
        server.stop()
    for name, lines in EXPECTED.items():
        expected = "".join(f"{line}\n" for line in lines).encode()
        assert transcripts[name] == expected, f"client {name}"
