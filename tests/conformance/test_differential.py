"""One scripted multi-client session, byte-identical on every backend.

Ping barriers sequence the clients, so what each client receives is fully
determined by the protocol.  Every backend the command line offers runs it,
and each transcript must equal the one expected here byte for byte, so the
backends are byte-identical to each other.  The last part runs through the
transport layers too: a text client over TLS (its plaintext) and a web
client (every byte of its frames after the upgrade).
"""

from __future__ import annotations

import importlib.util
import ssl

import pytest

from adapters.cli import BACKENDS
from adapters.transport import text_frame
from tests.expected import HELP, WELCOME
from tests.pki import Pki

from .server import OPER_PASSWORD, ServerProcess

#: The server's close frame for a client that quit: code 1000, no reason.
CLOSE_NORMAL = b"\x88\x02\x03\xe8"

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


#: Protocol v2 (rooms and private messages), on the same server after ``run_session``.
ROOMS_EXPECTED: dict[str, list[str]] = {
    "f": [
        WELCOME.format("guest6"),
        "[server] guest7 is connected",
        _pong(1),
        "[server] guest8 is connected",
        _pong(2),
        "[server] You are now known as fay",
        _pong(3),
        "[server] guest7 is now known as gus",
        "[server] guest8 is now known as hal",
        _pong(4),
        "[server] You are now in #Games",
        "[server] Users in #Games (1): @fay",
        _pong(5),
        "[server] gus joined #Games",
        "[server] fay set the topic of #Games to: Friday:  chess",
        _pong(6),
        _pong(7),
        "[hal -> fay] psst",
        "[server] hal joined #Games",
        _pong(8),
        "[server] hal was kicked from #Games by fay: bye  now",
        _pong(9),
        "[server] You are now known as faye",
        "[server] You are now in #lobby",
        "[server] Users in #lobby (1): faye",
        _pong(10),
        "[server] Goodbye, faye.",
    ],
    "g": [
        WELCOME.format("guest7"),
        "[server] guest8 is connected",
        _pong(1),
        "[server] guest6 is now known as fay",
        "[server] You are now known as gus",
        _pong(2),
        "[server] guest8 is now known as hal",
        _pong(3),
        "[server] fay left #lobby",
        "[server] You are now in #Games",
        "[server] Users in #Games (2): @fay gus",
        _pong(4),
        "[server] fay set the topic of #Games to: Friday:  chess",
        "[fay] hi  room",
        "* fay waves",
        _pong(5),
        "[server] hal joined #Games",
        _pong(6),
        "[server] Error: permission denied, room operators only",
        "[server] Error: permission denied, room operators only",
        _pong(7),
        "[server] hal was kicked from #Games by fay: bye  now",
        _pong(8),
        "[server] fay is now known as faye",
        "[server] faye left #Games",
        "[server] Users (1): gus",
        "[server] Topic of #Games: Friday:  chess",
        "[server] Goodbye, gus.",
    ],
    "h": [
        WELCOME.format("guest8"),
        "[server] guest6 is now known as fay",
        "[server] guest7 is now known as gus",
        "[server] You are now known as hal",
        _pong(1),
        "[server] fay left #lobby",
        "[server] gus left #lobby",
        "[server] Users in #Games (2): @fay gus",
        "[server] Rooms (2): #lobby (1) #Games (2)",
        "[server] You are now in #Games",
        "[server] Users in #Games (3): @fay gus hal",
        "[server] Topic of #Games: Friday:  chess",
        _pong(2),
        "[server] You were kicked from #Games by fay: bye  now",
        "[server] Error: you are not in a room, use JOIN <room>",
        "[server] Error: invalid room name a b",
        _pong(3),
        "[server] Rooms (1): #lobby (1)",
        "[server] Goodbye, hal.",
    ],
}


def run_rooms_session(server: ServerProcess) -> dict[str, bytes]:
    """The rooms script, after ``run_session`` (so the guests are numbered from 6)."""
    f = server.join("guest6")
    g = server.join("guest7")
    f.ping_barrier()
    h = server.join("guest8")
    f.ping_barrier()
    g.ping_barrier()
    for client, nick in ((f, "fay"), (g, "gus"), (h, "hal")):
        client.send_line(f"NICK {nick}")
        client.ping_barrier()
    f.ping_barrier()
    g.ping_barrier()

    f.send_line("JOIN #Games")
    f.ping_barrier()
    g.send_line("join games")
    g.ping_barrier()
    f.send_line("TOPIC Friday:  chess")
    f.ping_barrier()
    f.send_line("MSG hi  room")
    f.send_line("ME waves")
    f.ping_barrier()
    g.ping_barrier()
    for line in ("TELL FAY psst", "WHO #games", "ROOMS", "JOIN #GAMES"):
        h.send_line(line)
    h.ping_barrier()
    f.ping_barrier()
    g.ping_barrier()

    g.send_line("KICK hal")
    g.send_line("TOPIC mine")
    g.ping_barrier()
    f.send_line("KICK HAL bye  now")
    f.ping_barrier()
    g.ping_barrier()
    h.send_line("MSG anyone?")
    h.send_line("JOIN a b")
    h.ping_barrier()
    f.send_line("NICK faye")
    f.send_line("JOIN #lobby")
    f.ping_barrier()

    for line in ("WHO", "TOPIC", "QUIT bye"):
        g.send_line(line)
    g.lines_until_closed()
    h.send_line("ROOMS")
    h.send_line("QUIT")
    h.lines_until_closed()
    f.send_line("QUIT")
    f.lines_until_closed()
    return {name: bytes(client.received) for name, client in zip("fgh", (f, g, h), strict=True)}


#: Protocol v2 through the transport layers, after the rooms script: a plain text client (p), a text
#: client over TLS (t), a web client (w).  Every byte each receives is fixed, the web client's frames
#: and the TLS client's plaintext included.
LAYERS_EXPECTED: dict[str, list[str]] = {
    "p": [
        WELCOME.format("guest9"),
        "[server] guest10 is connected",
        "[server] guest11 is connected",
        _pong(1),
        "[server] guest10 is now known as tess",
        "[server] guest11 is now known as wes",
        _pong(2),
        "[wes] hello  <b>you</b>",
        "* wes waves",
        "[tess] hi wes",
        _pong(3),
        "[server] wes left #lobby",
        "[server] tess left #lobby",
        _pong(4),
        "[server] Goodbye, guest9.",
    ],
    "t": [
        WELCOME.format("guest10"),
        "[server] guest11 is connected",
        _pong(1),
        "[server] You are now known as tess",
        _pong(2),
        "[server] guest11 is now known as wes",
        "[wes] hello  <b>you</b>",
        "* wes waves",
        _pong(3),
        "[wes -> tess] back",
        "[server] wes left #lobby",
        "[server] You are now in #den",
        "[server] Users in #den (2): @wes tess",
        _pong(4),
        "[server] wes set the topic of #den to: secret",
        "[server] You were kicked from #den by wes: bye",
        "[server] Error: you are not in a room, use JOIN <room>",
        _pong(5),
        "[server] Goodbye, tess.",
    ],
}
WEB_EXPECTED: list[str] = [
    '{"type":"welcome","nick":"guest11","room":"#lobby"}',
    '{"type":"nick","old":"guest10","new":"tess"}',
    '{"type":"nick","old":"guest11","new":"wes"}',
    '{"type":"pong","token":"barrier-1"}',
    '{"type":"pong","token":"barrier-2"}',
    '{"type":"message","room":"#lobby","from":"tess","text":"hi wes","kind":"msg"}',
    '{"type":"private","from":"guest9","to":"wes","text":"psst","kind":"msg"}',
    '{"type":"joined","room":"#den"}',
    '{"type":"users","room":"#den","users":[{"nick":"wes","op":true}]}',
    '{"type":"pong","token":"barrier-3"}',
    '{"type":"join","room":"#den","nick":"tess","connected":false}',
    '{"type":"topic","room":"#den","topic":"secret","by":"wes"}',
    '{"type":"kick","room":"#den","nick":"tess","by":"wes","reason":"bye"}',
    '{"type":"error","code":"unknown-command","message":"invalid command bogus","cmd":"bogus"}',
    '{"type":"error","code":"invalid-json","message":"malformed message"}',
    '{"type":"pong","token":"barrier-4"}',
    '{"type":"goodbye","nick":"wes"}',
]


def run_layers_session(server: ServerProcess, context: ssl.SSLContext) -> tuple[dict[str, bytes], bytes]:
    """The layers script, after the rooms script (the guests are numbered from 9)."""
    p = server.join("guest9")
    t = server.join("guest10", tls=context)
    w = server.web_join("guest11")
    p.ping_barrier()
    t.ping_barrier()
    t.send_line("NICK tess")
    t.ping_barrier()
    w.send({"cmd": "nick", "nick": "wes"})
    w.ping_barrier()
    p.ping_barrier()
    w.send({"cmd": "msg", "text": "hello  <b>you</b>"})
    w.send({"cmd": "me", "text": "waves"})
    w.ping_barrier()
    t.send_line("MSG hi wes")
    t.ping_barrier()
    p.send_line("TELL wes psst")
    p.ping_barrier()
    w.send({"cmd": "tell", "nick": "TESS", "text": "back"})
    w.send({"cmd": "join", "room": "den"})
    w.ping_barrier()
    t.send_line("JOIN #den")
    t.ping_barrier()
    p.ping_barrier()
    w.send({"cmd": "topic", "text": "secret"})
    w.send({"cmd": "kick", "nick": "tess", "reason": "bye"})
    w.send({"cmd": "bogus"})
    w.send_text("[1]")
    w.ping_barrier()
    t.send_line("WHO")
    t.ping_barrier()
    w.send({"cmd": "quit"})
    w.until_closed()
    t.send_line("QUIT")
    t.lines_until_closed()
    p.send_line("QUIT")
    p.lines_until_closed()
    return {"p": bytes(p.received), "t": bytes(t.received)}, w.received


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_scripted_session(variant: str, pki: Pki) -> None:
    backend, args = VARIANTS[variant]
    if "uvloop" in args and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed (pip install uvloop)")
    certificates = ["--tls-cert", str(pki.cert_file), "--tls-key", str(pki.key_file)]
    layers = ["--listen", "text+tls://127.0.0.1:0", "--listen", "http://127.0.0.1:0", *certificates]
    server = ServerProcess(backend, [*args, *layers])
    try:
        transcripts = run_session(server) | run_rooms_session(server)
        through_layers, frames = run_layers_session(server, pki.client_context())
    finally:
        server.stop()
    for name, lines in (EXPECTED | ROOMS_EXPECTED | LAYERS_EXPECTED).items():
        expected = "".join(f"{line}\n" for line in lines).encode()
        assert (transcripts | through_layers)[name] == expected, f"client {name}"
    assert frames == b"".join(text_frame(event) for event in WEB_EXPECTED) + CLOSE_NORMAL
