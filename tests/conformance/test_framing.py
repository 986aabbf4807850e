"""Line framing over real sockets: terminators, the length limit, encoding, blanks."""

from __future__ import annotations

from .conftest import StartServer
from .server import ServerProcess

TOO_LONG = "[server] Error: line too long (max 4096 bytes)"


def test_crlf_and_lf(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_raw(b"MSG one\r\nMSG two\nPING x\r\nMSG three \r\n")
    assert a.ping_barrier() == ["[server] PONG x"]
    start = len(b.received)
    assert b.ping_barrier() == ["[guest1] one", "[guest1] two", "[guest1] three"]
    assert bytes(b.received[start:]).startswith(b"[guest1] one\n[guest1] two\n[guest1] three\n")


def test_line_split_across_many_sends(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    for byte in "MSG dé\r\nMSG jà vu\n".encode():
        a.send_raw(bytes([byte]))
    assert a.ping_barrier() == []
    assert b.ping_barrier() == ["[guest1] dé", "[guest1] jà vu"]


def test_empty_and_blank_lines_are_ignored(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_raw(b"\n\r\n   \n\t\t\r\n \t \n")
    a.expect_quiet()
    b.expect_quiet()


def test_longest_line_is_accepted(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    text = "x" * (4096 - len("MSG "))
    a.send_raw(f"MSG {text}\r\n".encode())  # the CR does not count
    a.send_raw(f"MSG {text[:-2]}é\n".encode())  # 4096 bytes, fewer characters
    assert a.ping_barrier() == []
    assert b.ping_barrier() == [f"[guest1] {text}", f"[guest1] {text[:-2]}é"]


def test_line_too_long_error_comes_before_the_lf(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_raw(b"MSG " + b"y" * 4093)  # 4097 bytes, no LF yet
    a.expect(TOO_LONG)
    a.send_raw(b"y" * 100_000)  # still the same line: discarded, no second error
    a.send_raw(b"yyy\nMSG after\n")
    assert a.ping_barrier() == []
    assert b.ping_barrier() == ["[guest1] after"]


def test_line_too_long_with_lf_in_same_send(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_raw(b"MSG " + "é".encode() * 3000 + b"\r\nMSG ok\n")
    assert a.ping_barrier() == [TOO_LONG]
    assert b.ping_barrier() == ["[guest1] ok"]


def test_line_too_long_cr_pending(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    line = b"MSG " + b"z" * 4092
    a.send_raw(line + b"\r")  # 4096 bytes and a CR that may be the terminator's
    a.send_raw(b"\n")
    assert a.ping_barrier() == []
    assert b.ping_barrier() == [f"[guest1] {'z' * 4092}"]
    a.send_raw(line + b"\rz")  # the CR was not before a LF after all
    a.expect(TOO_LONG)
    a.send_raw(b"\n")
    assert a.ping_barrier() == []
    b.expect_quiet()


def test_max_line_bytes_option(start_server: StartServer) -> None:
    server = start_server("--max-line-bytes", "16")
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_raw(b"MSG 123456789012\n")  # 16 bytes
    a.send_raw(b"MSG 1234567890123")  # 17 bytes
    a.expect("[server] Error: line too long (max 16 bytes)")
    a.send_raw(b"\nPING\n")
    assert a.ping_barrier() == ["[server] PONG"]
    assert b.ping_barrier() == ["[guest1] 123456789012"]


def test_invalid_utf8(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    a.send_raw(b"MSG \xff\n")
    a.send_raw(b"MSG \xc3\n")  # truncated sequence
    a.send_raw(b"MSG \xed\xa0\x80\n")  # an encoded surrogate
    a.send_raw(b"MSG \xc0\xaf\n")  # overlong encoding
    a.send_raw(b"\xffNICK x\r\n")
    a.send_raw("MSG still fine ✓\n".encode())
    assert a.ping_barrier() == ["[server] Error: invalid UTF-8"] * 5
    assert b.ping_barrier() == ["[guest1] still fine ✓"]


def test_control_characters(server: ServerProcess) -> None:
    a, b = server.join(), server.join()
    a.ping_barrier()
    bad = ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f", "\r", "\x0b", "\x0c"]
    for char in bad:
        a.send_raw(f"MSG a{char}b\n".encode())
    a.send_raw(b"\x07\n")
    a.send_raw(b"MSG a\tb\xc2\xa0c\n")  # TAB and U+00A0 are allowed
    assert a.ping_barrier() == ["[server] Error: control characters are not allowed"] * (len(bad) + 1)
    assert b.ping_barrier() == ["[guest1] a\tb\u00a0c"]


def test_invalid_utf8_takes_precedence_over_control(server: ServerProcess) -> None:
    a = server.join()
    a.send_raw(b"MSG \x01\xff\n")
    assert a.ping_barrier() == ["[server] Error: invalid UTF-8"]
