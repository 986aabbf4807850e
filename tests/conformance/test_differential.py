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

from .client import Client
from .irc_client import IRCClient
from .server import OPER_PASSWORD, ServerProcess

#: The server's close frame for a client that quit: code 1000, no reason.
CLOSE_NORMAL = b"\x88\x02\x03\xe8"
#: The IRC listener beside the text one, and a server name that does not depend on the host.
IRC_LISTENER = ("--listen", "irc://127.0.0.1:0", "--server-name", "chat.test")

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


def _irc_pong(n: int) -> str:
    return f":chat.test PONG chat.test barrier-{n}"


#: The mixed session: what each text client reads, and what each IRC client reads after its welcome.
MIXED_EXPECTED: dict[str, list[str]] = {
    "tina": [
        "[server] Welcome to the chat, guest9! Type HELP for the list of commands.",
        "[server] guest10 is connected",
        _pong(1),
        "[server] ann joined #lobby",
        _pong(2),
        "[server] ben joined #lobby",
        _pong(3),
        _pong(4),
        "[ann] hi text people",
        _pong(5),
        "* guest10 waves",
        _pong(6),
        "* ben bows",
        _pong(7),
        _pong(8),
        "[ann -> guest9] back at you",
        _pong(9),
        _pong(10),
        "[server] guest10 left #lobby",
        _pong(11),
        _pong(12),
        "[server] Error: cannot join #games: it is invite only (+i)",
        _pong(13),
        _pong(14),
        "[server] You are now known as tina",
        _pong(15),
        _pong(16),
        "[server] Your modes changed: +B",
        "[server] Users (3): tina(bot) ann ben(bot)",
        _pong(17),
        _pong(18),
        "[server] ben is now known as benny",
        "[server] benny is away: brb",
        _pong(19),
        "[server] benny is away: brb",
        _pong(20),
        "[server] You are away: lunch",
        _pong(21),
        "[ann -> tina] lunch?",
        _pong(22),
        "[server] Goodbye, tina.",
    ],
    "tom": [
        "[server] Welcome to the chat, guest10! Type HELP for the list of commands.",
        "[server] ann joined #lobby",
        _pong(1),
        "[server] ben joined #lobby",
        _pong(2),
        "[guest9] hello irc",
        _pong(3),
        "[ann] hi text people",
        _pong(4),
        _pong(5),
        "* ben bows",
        _pong(6),
        _pong(7),
        "[ann -> guest10] to you both",
        _pong(8),
        _pong(9),
        "[server] You are now in #games",
        "[server] Users in #games (2): @ann guest10",
        "[server] Topic of #games: chess at noon",
        _pong(10),
        "[server] ann set mode +v guest10 on #games",
        "[server] ann set mode +i on #games",
        _pong(11),
        _pong(12),
        "[server] You were kicked from #games by ann: bye for now",
        *map(_pong, range(13, 25)),
        "[server] Goodbye, guest10.",
    ],
    "ann": [
        ":ann!~ann@irc.invalid JOIN #lobby",
        ":chat.test 353 ann = #lobby :guest9 guest10 ann",
        ":chat.test 366 ann #lobby :End of /NAMES list",
        _irc_pong(1),
        ":ben!~benjamin@irc.invalid JOIN #lobby",
        _irc_pong(2),
        ":guest9!text@text.invalid PRIVMSG #lobby :hello irc",
        _irc_pong(3),
        _irc_pong(4),
        ":guest10!text@text.invalid PRIVMSG #lobby :\x01ACTION waves\x01",
        _irc_pong(5),
        ":ben!~benjamin@irc.invalid PRIVMSG #lobby :\x01ACTION bows\x01",
        ":ben!~benjamin@irc.invalid PRIVMSG #lobby :\x01VERSION\x01",
        _irc_pong(6),
        ":guest9!text@text.invalid PRIVMSG ann :psst",
        _irc_pong(7),
        _irc_pong(8),
        ":ann!~ann@irc.invalid JOIN #games",
        ":chat.test 353 ann = #games @ann",
        ":chat.test 366 ann #games :End of /NAMES list",
        ":ann!~ann@irc.invalid TOPIC #games :chess at noon",
        _irc_pong(9),
        ":guest10!text@text.invalid PART #lobby",
        ":guest10!text@text.invalid JOIN #games",
        _irc_pong(10),
        ":ann!~ann@irc.invalid MODE #games +v guest10",
        ":ann!~ann@irc.invalid MODE #games +i",
        _irc_pong(11),
        _irc_pong(12),
        ":ann!~ann@irc.invalid KICK #games guest10 :bye for now",
        _irc_pong(13),
        ":guest9!text@text.invalid NICK tina",
        _irc_pong(14),
        _irc_pong(15),
        _irc_pong(16),
        ":chat.test 354 ann ben HB :Benjamin B.",
        ":chat.test 315 ann ben :End of /WHO list",
        _irc_pong(17),
        ":ben!~benjamin@irc.invalid NICK benny",
        _irc_pong(18),
        _irc_pong(19),
        _irc_pong(20),
        ":chat.test 354 ann tina GB",  # G: gone (away), B: a bot
        ":chat.test 315 ann tina :End of /WHO list",
        ":chat.test 301 ann tina lunch",
        _irc_pong(21),
        ":tina!text@text.invalid QUIT :Quit: see you",
        _irc_pong(22),
        ":benny!~benjamin@irc.invalid QUIT :Quit: later",
        _irc_pong(23),
        "ERROR :Closing link: ann (Client Quit)",
    ],
    "ben": [
        _irc_pong(1),
        ":ben!~benjamin@irc.invalid JOIN #lobby",
        ":chat.test 353 ben = #lobby :guest9 guest10 ann ben",
        ":chat.test 366 ben #lobby :End of /NAMES list",
        _irc_pong(2),
        ":guest9!text@text.invalid PRIVMSG #lobby :hello irc",
        _irc_pong(3),
        ":ann!~ann@irc.invalid PRIVMSG #lobby :hi \x02text\x02 people",
        _irc_pong(4),
        ":guest10!text@text.invalid PRIVMSG #lobby :\x01ACTION waves\x01",
        _irc_pong(5),
        _irc_pong(6),
        _irc_pong(7),
        ":ann!~ann@irc.invalid PRIVMSG ben :to you both",
        _irc_pong(8),
        _irc_pong(9),
        ":guest10!text@text.invalid PART #lobby",
        _irc_pong(10),
        _irc_pong(11),
        _irc_pong(12),
        _irc_pong(13),
        ":guest9!text@text.invalid NICK tina",
        _irc_pong(14),
        ":ben MODE ben :+B",
        _irc_pong(15),
        _irc_pong(16),
        _irc_pong(17),
        ":ben!~benjamin@irc.invalid NICK benny",
        ":chat.test 306 benny :You have been marked as being away",
        _irc_pong(18),
        ":tina!text@text.invalid PRIVMSG benny :are you there?",
        _irc_pong(19),
        _irc_pong(20),
        _irc_pong(21),
        ":tina!text@text.invalid QUIT :Quit: see you",
        _irc_pong(22),
        "ERROR :Closing link: benny (Quit: later)",
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


def run_mixed_session(server: ServerProcess) -> dict[str, bytes]:
    """Two IRC clients and two text clients: rooms, words, actions, modes, kicks, nicks, bots, away, quits.

    A text client's away state shows to IRC clients as it shows in theirs.

    After the rooms script, so the text guests are numbered from 9.  Each
    step is one client's lines, then a barrier on every client still here.
    """
    irc_port = next(port for kind, _, port in server.listeners if kind == "irc")
    tina, tom = server.join("guest9"), server.join("guest10")
    tina.ping_barrier()
    ann = IRCClient(server.connect(port=irc_port, chat=False), "ann")
    ann.register()
    ben = IRCClient(server.connect(port=irc_port, chat=False), "ben")
    ben.register("benjamin")
    here: list[Client | IRCClient] = [tina, tom, ann, ben]

    def step(client: Client | IRCClient, *lines: str) -> None:
        """``client``'s lines; then barriers, its own first (the server has handled the lines then)."""
        if isinstance(client, IRCClient):
            client.send(*lines)
        else:
            for line in lines:
                client.send_line(line)
        for each in sorted(here, key=lambda other: other is not client):
            each.ping_barrier() if isinstance(each, Client) else each.barrier()

    def leaves(client: Client | IRCClient, line: str) -> None:
        """``client`` quits: once it is closed the server has handled it; then barriers on the others."""
        here.remove(client)
        if isinstance(client, IRCClient):
            client.send(line)
        else:
            client.send_line(line)
        client.lines_until_closed()
        for each in here:
            each.ping_barrier() if isinstance(each, Client) else each.barrier()

    step(ann, "JOIN #lobby")
    step(ben, "JOIN #lobby")
    step(tina, "MSG hello irc")
    step(ann, "PRIVMSG #lobby :hi \x02text\x02 people")
    step(tom, "ME waves")
    step(ben, "PRIVMSG #lobby :\x01ACTION bows\x01", "PRIVMSG #lobby :\x01VERSION\x01")
    step(tina, "TELL ann psst")
    step(ann, "PRIVMSG guest9 :back at you", "PRIVMSG ben,guest10 :to you both")
    step(ann, "JOIN #games", "TOPIC #games :chess at noon")
    step(tom, "JOIN #games")
    step(ann, "MODE #games +v guest10", "MODE #games +i")
    step(tina, "JOIN #games")
    step(ann, "KICK #games guest10 :bye for now")
    step(tina, "NICK tina")
    step(ben, "MODE ben +B", "SETNAME :Benjamin B.")  # (no client here asked for setname: nothing shown)
    step(tina, "MODE +B", "WHO")
    step(ann, "WHO ben %nfr")
    step(ben, "NICK benny", "AWAY :brb")
    step(tina, "TELL benny are you there?")
    step(tina, "AWAY lunch")  # (no IRC client here asked for away-notify: WHOIS shows it)
    step(ann, "WHO tina %nf", "PRIVMSG tina :lunch?")
    leaves(tina, "QUIT see you")
    leaves(ben, "QUIT :later")
    leaves(ann, "QUIT")
    leaves(tom, "QUIT")
    return {
        "tina": bytes(tina.received),
        "tom": bytes(tom.received),
        "ann": ann.transcript,
        "ben": ben.transcript,
    }


#: Protocol v2 through the transport layers, after the rooms and mixed scripts: a plain text client
#: (p), a text client over TLS (t), a web client (w).  Every byte each receives is fixed, the web
#: client's frames and the TLS client's plaintext included.  At the end the web and the text client
#: set room modes, invite and go away with their own commands (the rules IRC clients have).
LAYERS_EXPECTED: dict[str, list[str]] = {
    "p": [
        WELCOME.format("guest13"),
        "[server] guest14 is connected",
        "[server] guest15 is connected",
        _pong(1),
        "[server] guest14 is now known as tess",
        "[server] guest15 is now known as wes",
        _pong(2),
        "[wes] hello  <b>you</b>",
        "* wes waves",
        "[tess] hi wes",
        _pong(3),
        "[server] wes left #lobby",
        "[server] tess left #lobby",
        _pong(4),
        "[server] tess invites you to #den",
        "[server] Error: permission denied, room operators only",
        _pong(5),
        "[server] Goodbye, guest13.",
    ],
    "t": [
        WELCOME.format("guest14"),
        "[server] guest15 is connected",
        _pong(1),
        "[server] You are now known as tess",
        _pong(2),
        "[server] guest15 is now known as wes",
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
        "[server] wes invites you to #den",
        "[server] You are now in #den",
        "[server] Users in #den (2): @wes tess",
        "[server] Topic of #den: secret",
        _pong(6),
        "[server] wes set mode +o tess on #den",
        "[server] tess set mode +m-t on #den",
        "[server] You invited guest13 to #den",
        "[server] Modes of #den: +imn",
        "[server] You are away: lunch",
        _pong(7),
        "[server] wes is away: brb",
        "[server] wes is disconnected",
        "[server] Goodbye, tess.",
    ],
}
WEB_EXPECTED: list[str] = [
    '{"type":"welcome","nick":"guest15","room":"#lobby","max_message_bytes":4096}',
    '{"type":"nick","old":"guest14","new":"tess"}',
    '{"type":"nick","old":"guest15","new":"wes"}',
    '{"type":"pong","token":"barrier-1"}',
    '{"type":"pong","token":"barrier-2"}',
    '{"type":"message","room":"#lobby","from":"tess","text":"hi wes","kind":"msg"}',
    '{"type":"private","from":"guest13","to":"wes","text":"psst","kind":"msg"}',
    '{"type":"joined","room":"#den"}',
    '{"type":"users","room":"#den","users":[{"nick":"wes","op":true}]}',
    '{"type":"pong","token":"barrier-3"}',
    '{"type":"join","room":"#den","nick":"tess","connected":false}',
    '{"type":"topic","room":"#den","topic":"secret","by":"wes"}',
    '{"type":"kick","room":"#den","nick":"tess","by":"wes","reason":"bye"}',
    '{"type":"error","code":"unknown-command","message":"invalid command bogus","cmd":"bogus"}',
    '{"type":"error","code":"invalid-json","message":"malformed message"}',
    '{"type":"pong","token":"barrier-4"}',
    '{"type":"mode","target":"#den","modes":"+i","args":[],"by":"wes"}',
    '{"type":"invited","nick":"tess","room":"#den"}',
    '{"type":"pong","token":"barrier-5"}',
    '{"type":"join","room":"#den","nick":"tess","connected":false}',
    '{"type":"mode","target":"#den","modes":"+o","args":["tess"],"by":"wes"}',
    '{"type":"pong","token":"barrier-6"}',
    '{"type":"mode","target":"#den","modes":"+m-t","args":[],"by":"tess"}',
    '{"type":"away","nick":"tess","text":"lunch"}',
    '{"type":"away","nick":"wes","text":"brb"}',
    '{"type":"modes","room":"#den","modes":"+imn","args":[]}',
    '{"type":"pong","token":"barrier-7"}',
    '{"type":"goodbye","nick":"wes"}',
]


def run_layers_session(server: ServerProcess, context: ssl.SSLContext) -> tuple[dict[str, bytes], bytes]:
    """The layers script, after the rooms and mixed scripts (guests from 13: IRC clients took two)."""
    p = server.join("guest13")
    t = server.join("guest14", tls=context)
    w = server.web_join("guest15")
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
    # Room modes, an invitation and away states, set by a web and a text user: the same rules as IRC's.
    w.send({"cmd": "mode", "modes": "+i"})
    w.send({"cmd": "invite", "nick": "tess"})
    w.ping_barrier()
    t.send_line("JOIN den")
    t.ping_barrier()
    w.send({"cmd": "mode", "room": "#den", "modes": "+o", "args": ["tess"]})
    w.ping_barrier()
    t.send_line("MODE den +m-t")
    t.send_line("INVITE guest13")
    t.send_line("MODE den")
    t.send_line("AWAY lunch")
    t.ping_barrier()
    w.send({"cmd": "away", "text": "brb"})
    w.send({"cmd": "mode"})
    w.ping_barrier()
    p.send_line("MODE den +v guest13")
    p.ping_barrier()
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
    server = ServerProcess(backend, [*args, *IRC_LISTENER, *layers])
    try:
        transcripts = run_session(server) | run_rooms_session(server) | run_mixed_session(server)
        through_layers, frames = run_layers_session(server, pki.client_context())
    finally:
        server.stop()
    for name, lines in (EXPECTED | ROOMS_EXPECTED | LAYERS_EXPECTED).items():
        expected = "".join(f"{line}\n" for line in lines).encode()
        assert (transcripts | through_layers)[name] == expected, f"client {name}"
    assert frames == b"".join(text_frame(event) for event in WEB_EXPECTED) + CLOSE_NORMAL
    for name, lines in MIXED_EXPECTED.items():
        end = "\r\n" if name in ("ann", "ben") else "\n"
        expected = "".join(f"{line}{end}" for line in lines).encode()
        assert transcripts[name] == expected, f"client {name}: {transcripts[name].decode()}"
