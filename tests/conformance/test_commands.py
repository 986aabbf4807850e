"""The chat commands over real sockets: exact replies, notices and who gets them."""

from __future__ import annotations

from tests.expected import HELP

from .server import OPER_PASSWORD, ServerProcess


def test_welcome_and_connected_notices(server: ServerProcess) -> None:
    a = server.join("guest1")
    b = server.join("guest2")
    a.expect("[server] guest2 is connected")
    c = server.join("guest3")
    a.expect("[server] guest3 is connected")
    b.expect("[server] guest3 is connected")
    for client in (a, b, c):
        client.expect_quiet()


def test_msg_relays_exact_bytes_to_others_only(server: ServerProcess) -> None:
    a, b, c = server.join(), server.join(), server.join()
    a.ping_barrier()
    b.ping_barrier()
    a.send_raw("MSG   héllo  wörld ✓\t \r\n".encode())
    a.send_raw(b"msg x\n")
    a.send_raw(b"Msg tab\there\n")
    assert a.ping_barrier() == []
    for receiver in (b, c):
        start = len(receiver.received)
        assert receiver.ping_barrier() == ["[guest1] héllo  wörld ✓", "[guest1] x", "[guest1] tab\there"]
        assert bytes(receiver.received[start:]).startswith(
            "[guest1] héllo  wörld ✓\n[guest1] x\n[guest1] tab\there\n".encode()
        )


def test_msg_alone_and_usage(server: ServerProcess) -> None:
    a = server.join()
    a.send_line("MSG nobody listens")
    a.send_line("MSG")
    a.send_line("MSG   \t ")
    assert a.ping_barrier() == ["[server] Error: usage: MSG <text>", "[server] Error: usage: MSG <text>"]


def test_nick_change(server: ServerProcess) -> None:
    a, b, c = server.join(), server.join(), server.join()
    a.ping_barrier()
    b.ping_barrier()
    b.send_line("nick Bob_the-2nd")
    b.expect("[server] You are now known as Bob_the-2nd")
    a.expect("[server] guest2 is now known as Bob_the-2nd")
    c.expect("[server] guest2 is now known as Bob_the-2nd")
    b.send_line("NICK bob_the-2ND")  # same name in another case: allowed, it is the holder
    b.expect("[server] You are now known as bob_the-2ND")
    a.expect("[server] Bob_the-2nd is now known as bob_the-2ND")
    c.expect("[server] Bob_the-2nd is now known as bob_the-2ND")
    c.send_line("MSG hi")
    assert c.ping_barrier() == []
    assert b.ping_barrier() == ["[guest3] hi"]
    b.send_line("MSG from bob")
    assert b.ping_barrier() == []
    assert c.ping_barrier() == ["[bob_the-2ND] from bob"]
    assert a.ping_barrier() == ["[guest3] hi", "[bob_the-2ND] from bob"]


def test_nick_errors(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_line("NICK alice")
    a.expect("[server] You are now known as alice")
    a.send_line("NICK")
    a.send_line("NICK a b")
    a.send_line("NICK 1abc")
    a.send_line("NICK server")
    a.send_line("NICK SERVER")
    a.send_line("NICK " + "x" * 25)
    a.send_line("NICK bad!")
    assert a.ping_barrier() == [
        "[server] Error: usage: NICK <nickname>",
        "[server] Error: invalid nickname a b",
        "[server] Error: invalid nickname 1abc",
        "[server] Error: invalid nickname server",
        "[server] Error: invalid nickname SERVER",
        "[server] Error: invalid nickname " + "x" * 25,
        "[server] Error: invalid nickname bad!",
    ]
    b.send_line("NICK ALICE")
    b.send_line("NICK guest1")  # free again since guest1 renamed itself
    assert b.ping_barrier() == [
        "[server] guest1 is now known as alice",
        "[server] Error: nickname ALICE is already in use",
        "[server] You are now known as guest1",
    ]
    assert a.ping_barrier() == ["[server] guest2 is now known as guest1"]
    b.send_line("NICK " + "y" * 24)
    b.expect("[server] You are now known as " + "y" * 24)


def test_who_lists_connection_order(server: ServerProcess) -> None:
    a, b, c = server.join(), server.join(), server.join()
    a.ping_barrier()
    b.ping_barrier()
    a.send_line("NICK zed")
    a.expect("[server] You are now known as zed")
    b.send_line("WHO")
    assert b.ping_barrier() == [
        "[server] guest1 is now known as zed",
        "[server] Users (3): zed guest2 guest3",
    ]
    c.send_line("QUIT")
    c.expect_closed("[server] guest1 is now known as zed", "[server] Goodbye, guest3.")
    a.send_line("who")
    assert a.ping_barrier() == ["[server] guest3 is disconnected", "[server] Users (2): zed guest2"]
    d = server.join("guest4")
    d.send_line("  WHO  ")
    d.expect("[server] Users (3): zed guest2 guest4")


def test_quit_without_text(server: ServerProcess) -> None:
    a, b, c = server.join(), server.join(), server.join()
    a.ping_barrier()
    b.ping_barrier()
    b.send_line("QUIT   ")
    b.expect_closed("[server] Goodbye, guest2.")
    for other in (a, c):
        assert other.ping_barrier() == ["[server] guest2 is disconnected"]


def test_quit_with_text(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_line("NICK alice")
    a.expect("[server] You are now known as alice")
    a.send_line("quit  so long,  and thanks ")
    a.expect_closed("[server] Goodbye, alice.")
    assert b.ping_barrier() == [
        "[server] guest1 is now known as alice",
        "[alice] so long,  and thanks",
        "[server] alice is disconnected",
    ]


def test_lines_after_quit_are_ignored(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_raw(b"QUIT\nMSG too late\nNICK late\n")
    a.expect_closed("[server] Goodbye, guest1.")
    assert b.ping_barrier() == ["[server] guest1 is disconnected"]


def test_kill_errors_in_order(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_line("KILL")
    a.send_line("KILL   ")
    a.send_line("KILL nobody")
    a.send_line("KILL guest2 bye")
    a.send_line("KILL guest1")
    a.send_line(f"OPER {OPER_PASSWORD}")
    a.send_line("KILL")
    a.send_line("KILL nobody some text")
    a.send_line("KILL guest1")
    a.send_line("KILL GUEST1 bye")
    assert a.ping_barrier() == [
        "[server] Error: usage: KILL <nickname> [<text>]",
        "[server] Error: usage: KILL <nickname> [<text>]",
        "[server] Error: permission denied, use OPER first",
        "[server] Error: permission denied, use OPER first",
        "[server] Error: permission denied, use OPER first",
        "[server] You are now an operator",
        "[server] Error: usage: KILL <nickname> [<text>]",
        "[server] Error: no such nickname nobody",
        "[server] Error: use QUIT to leave",
        "[server] Error: use QUIT to leave",
    ]
    b.expect_quiet()


def test_kill_with_text(server: ServerProcess) -> None:
    a, b, c = server.join(), server.join(), server.join()
    a.ping_barrier()
    b.ping_barrier()
    a.send_line(f"OPER {OPER_PASSWORD}")
    a.expect("[server] You are now an operator")
    a.send_line("KILL Guest2   you are  out ")
    b.expect_closed("[guest1] you are  out", "[server] You have been killed by guest1")
    assert a.ping_barrier() == ["[server] guest2 is disconnected (killed by guest1)"]
    assert c.ping_barrier() == ["[server] guest2 is disconnected (killed by guest1)"]
    a.send_line("WHO")
    a.expect("[server] Users (2): guest1 guest3")


def test_kill_without_text(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    b.send_line(f"OPER {OPER_PASSWORD}")
    b.send_line("NICK op")
    assert b.ping_barrier() == ["[server] You are now an operator", "[server] You are now known as op"]
    b.send_line("KILL guest1")
    a.expect_closed("[server] guest2 is now known as op", "[server] You have been killed by op")
    assert b.ping_barrier() == ["[server] guest1 is disconnected (killed by op)"]


def test_oper_success_and_usage(server: ServerProcess) -> None:
    a = server.join()
    a.send_line("OPER")
    a.send_line("OPER wrong")
    a.send_line(f"OPER {OPER_PASSWORD.upper()}")
    a.send_line(f"oper {OPER_PASSWORD}")
    a.send_line(f"OPER {OPER_PASSWORD}")
    assert a.ping_barrier() == [
        "[server] Error: usage: OPER <password>",
        "[server] Error: wrong password",
        "[server] Error: wrong password",
        "[server] You are now an operator",
        "[server] You are now an operator",
    ]


def test_oper_third_failure_closes(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    b.send_line("OPER")  # a usage error is not a failed attempt
    b.send_line("OPER one")
    b.send_line("OPER two")
    assert b.ping_barrier() == [
        "[server] Error: usage: OPER <password>",
        "[server] Error: wrong password",
        "[server] Error: wrong password",
    ]
    b.send_line("OPER three")
    b.expect_closed("[server] Error: too many failed OPER attempts")
    assert a.ping_barrier() == ["[server] guest2 is disconnected (too many failed OPER attempts)"]


def test_help(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    b.send_line("help")
    assert b.ping_barrier() == HELP
    b.send_line("HELP me please")
    assert b.ping_barrier() == HELP
    a.expect_quiet()


def test_ping(server: ServerProcess) -> None:
    a = server.join()
    a.send_line("PING")
    a.send_line("ping   a  b ")
    a.send_line("PiNg x")
    assert a.ping_barrier() == ["[server] PONG", "[server] PONG a  b", "[server] PONG x"]


def test_invalid_command(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_line("FOO bar")
    a.send_line("  hello")
    a.send_line("Quitx")
    a.send_line("MSGhi")
    a.send_line("é")
    assert a.ping_barrier() == [
        "[server] Error: invalid command FOO",
        "[server] Error: invalid command hello",
        "[server] Error: invalid command Quitx",
        "[server] Error: invalid command MSGhi",
        "[server] Error: invalid command é",
    ]
    b.expect_quiet()
