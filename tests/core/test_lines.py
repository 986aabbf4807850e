"""Lines: framing, the length limit, UTF-8, control characters, blanks, parsing."""

from __future__ import annotations

import pytest

from sansio_chat import DEFAULT_MAX_LINE_BYTES, DataReceived, EofReceived, ServerConfig
from tests.core_driver import Client, FakeNetwork

TOO_LONG = "[server] Error: line too long (max 4096 bytes)"
CONTROL = "[server] Error: control characters are not allowed"
INVALID_UTF8 = "[server] Error: invalid UTF-8"


@pytest.fixture
def pair(net: FakeNetwork) -> tuple[Client, Client]:
    alice, bob = net.join("alice", "bob")
    return alice, bob


# -- terminators ---------------------------------------------------------


def test_a_line_ends_at_lf(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(b"MSG one\nMSG two\n")
    assert bob.lines() == ["[alice] one", "[alice] two"]


def test_cr_before_lf_is_dropped(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(b"MSG hi\r\n")
    assert bob.received.endswith(b"[alice] hi\n")


def test_cr_before_lf_is_dropped_from_every_command(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send_bytes(b"PING tok\r\n")
    assert alice.lines() == ["[server] PONG tok"]


def test_cr_elsewhere_is_a_control_character(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(b"MSG a\rb\n")
    alice.send_bytes(b"MSG ab\r\r\n")
    alice.send_bytes(b"\rMSG ab\n")
    assert alice.lines() == [CONTROL] * 3
    assert bob.lines() == []


def test_a_line_is_not_handled_before_its_lf(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(b"MSG par")
    assert bob.lines() == []
    alice.send_bytes(b"tial\n")
    assert bob.lines() == ["[alice] partial"]


def test_one_byte_at_a_time_gives_the_same_lines(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    for byte in b"MSG caf\xc3\xa9\r\nPING x\n":
        alice.send_bytes(bytes([byte]))
    assert bob.lines() == ["[alice] café"]
    assert alice.lines() == ["[server] PONG x"]


# -- blanks ---------------------------------------------------------------


@pytest.mark.parametrize("line", [b"\n", b"\r\n", b"   \n", b"\t\t\n", b" \t \r\n"])
def test_blank_lines_are_ignored(pair: tuple[Client, Client], line: bytes) -> None:
    alice, bob = pair
    assert alice.send_bytes(line) == []
    assert alice.lines() == [] and bob.lines() == []


def test_surrounding_spaces_and_tabs_are_stripped(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send(" \t MSG \t hello  world \t ")
    assert bob.lines() == ["[alice] hello  world"]


def test_words_are_separated_by_runs_of_spaces_and_tabs(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send("PING\t \t token")
    assert alice.lines() == ["[server] PONG token"]


def test_no_break_space_is_text_not_a_blank(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("\u00a0")
    assert alice.lines() == ["[server] Error: invalid command \u00a0"]
    alice.send("MSG \u00a0")
    assert bob.lines() == ["[alice] \u00a0"]


@pytest.mark.parametrize("space", ["\u2003", "\u3000", "\u2028", "\u200b"])
def test_other_unicode_spaces_are_kept_as_text(pair: tuple[Client, Client], space: str) -> None:
    alice, bob = pair
    alice.send(f"MSG {space}x{space}")
    assert bob.lines() == [f"[alice] {space}x{space}"]


def test_tab_inside_text_is_allowed_and_relayed(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("MSG a\tb")
    assert bob.lines() == ["[alice] a\tb"]


# -- control characters ---------------------------------------------------

CONTROL_CHARACTERS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_control_character_drops_the_line(pair: tuple[Client, Client], char: str) -> None:
    alice, bob = pair
    alice.send_bytes(f"MSG a{char}b\n".encode())
    assert alice.lines() == [CONTROL]
    assert bob.lines() == []


@pytest.mark.parametrize("line", ["\x0b", "\x0c", " \x0b ", "\x1b[2J", "\x00"])
def test_control_characters_are_not_blanks(pair: tuple[Client, Client], line: str) -> None:
    alice, _ = pair
    alice.send(line)
    assert alice.lines() == [CONTROL]


def test_c1_controls_are_rejected_in_their_utf8_form(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(b"MSG \xc2\x9b31m red\n")  # U+009B, the 8-bit CSI
    alice.send_bytes(b"MSG \xc2\x80\n")
    assert alice.lines() == [CONTROL, CONTROL]
    assert bob.lines() == []


def test_control_character_in_a_command_word_or_argument(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send("NICK bad\x07nick")
    alice.send("FOO\x1b")
    assert alice.lines() == [CONTROL, CONTROL]


def test_the_connection_stays_after_a_bad_line(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("MSG \x1b]0;pwned\x07")
    alice.send("MSG fine")
    assert bob.lines() == ["[alice] fine"]
    assert alice.is_open


# -- UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"MSG \xff\n",
        b"MSG \xc3\n",  # truncated sequence
        b"MSG \xc0\xaf\n",  # overlong '/'
        b"MSG \xed\xa0\x80\n",  # a surrogate
        b"MSG \xf4\x90\x80\x80\n",  # beyond U+10FFFF
        b"\x80\n",
    ],
)
def test_invalid_utf8_drops_the_line(pair: tuple[Client, Client], raw: bytes) -> None:
    alice, bob = pair
    alice.send_bytes(raw)
    assert alice.lines() == [INVALID_UTF8]
    assert bob.lines() == []
    alice.send("MSG still here")
    assert bob.lines() == ["[alice] still here"]


def test_invalid_utf8_is_reported_before_control_characters(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send_bytes(b"MSG \x1b \xff\n")
    assert alice.lines() == [INVALID_UTF8]


def test_multibyte_character_split_across_chunks(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(b"MSG \xe2\x82")
    alice.send_bytes(b"\xac\n")
    assert bob.lines() == ["[alice] \u20ac"]


# -- the length limit -------------------------------------------------------


def msg_of_size(size: int) -> bytes:
    """A MSG line of exactly ``size`` bytes before its terminator."""
    return b"MSG " + b"x" * (size - 4)


def test_default_limit_is_4096_bytes() -> None:
    assert DEFAULT_MAX_LINE_BYTES == 4096
    assert ServerConfig().max_line_bytes == 4096


def test_a_line_of_exactly_the_limit_is_accepted(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(msg_of_size(4096) + b"\n")
    assert alice.lines() == []
    assert bob.lines() == ["[alice] " + "x" * 4092]


def test_a_line_one_byte_over_the_limit_is_refused(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(msg_of_size(4097) + b"\n")
    assert alice.lines() == [TOO_LONG]
    assert bob.lines() == []


def test_the_cr_before_lf_does_not_count(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(msg_of_size(4096) + b"\r\n")
    assert alice.lines() == []
    assert bob.lines() == ["[alice] " + "x" * 4092]


def test_a_cr_at_the_limit_waits_to_see_whether_lf_follows(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(msg_of_size(4096) + b"\r")
    assert alice.lines() == []
    alice.send_bytes(b"\n")
    assert bob.lines() == ["[alice] " + "x" * 4092]


def test_a_cr_not_followed_by_lf_counts(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send_bytes(msg_of_size(4096) + b"\r")
    alice.send_bytes(b"y")
    assert alice.lines() == [TOO_LONG]


def test_the_error_goes_out_before_the_lf_arrives(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send_bytes(msg_of_size(4096))
    assert alice.lines() == []
    alice.send_bytes(b"x")
    assert alice.lines() == [TOO_LONG]


def test_the_rest_of_a_too_long_line_is_discarded_up_to_the_lf(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send_bytes(msg_of_size(5000))
    alice.send_bytes(b" MSG not a command" * 300)  # still the same line
    alice.send_bytes(b"y" * 10_000 + b"\nMSG after\n")
    assert alice.lines() == [TOO_LONG]
    assert bob.lines() == ["[alice] after"]
    assert alice.is_open


def test_one_error_per_too_long_line(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send_bytes(msg_of_size(5000) + b"\n" + msg_of_size(5000) + b"\nPING\n")
    assert alice.lines() == [TOO_LONG, TOO_LONG, "[server] PONG"]


def test_the_limit_applies_to_blank_lines_too(pair: tuple[Client, Client]) -> None:
    alice, _ = pair
    alice.send_bytes(b" " * 4097 + b"\n")
    assert alice.lines() == [TOO_LONG]


def test_the_limit_counts_bytes_not_characters(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("MSG " + "é" * 2046)  # 4 + 4092 bytes
    assert bob.lines() == ["[alice] " + "é" * 2046]
    alice.send("MSG " + "é" * 2047)
    assert alice.lines() == [TOO_LONG]


def test_the_limit_is_configurable() -> None:
    net = FakeNetwork(ServerConfig(max_line_bytes=10))
    alice, bob = net.join("alice", "bob")
    alice.send("MSG 123456")
    alice.send("MSG 1234567")
    assert bob.lines() == ["[alice] 123456"]
    assert alice.lines() == ["[server] Error: line too long (max 10 bytes)"]


def test_the_too_long_reply_is_one_shared_bytes_object(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    first = alice.send_bytes(msg_of_size(5000))
    second = bob.send_bytes(msg_of_size(5000))
    assert len(first) == len(second) == 1
    assert first[0].data is second[0].data  # type: ignore[union-attr]


def test_buffering_is_bounded_while_a_line_is_incomplete(net: FakeNetwork) -> None:
    alice = net.connect()
    for _ in range(100):
        net.receive(DataReceived(conn=alice.conn, data=b"z" * 10_000))
    assert alice.lines()[1:] == [TOO_LONG]
    net.receive(EofReceived(conn=alice.conn))
    assert alice.closed
    assert alice.lines() == []  # nothing left of the endless line to handle at EOF


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize("word", ["ping", "Ping", "pInG", "PING"])
def test_command_words_are_case_insensitive(pair: tuple[Client, Client], word: str) -> None:
    alice, _ = pair
    alice.send(word)
    assert alice.lines() == ["[server] PONG"]


@pytest.mark.parametrize("word", ["FOO", "foo", "MSGX", "msg:", "ÉCHO", "P1NG"])
def test_unknown_command_is_reported_as_typed(pair: tuple[Client, Client], word: str) -> None:
    alice, _ = pair
    alice.send(f"{word} some args")
    assert alice.lines() == [f"[server] Error: invalid command {word}"]


@pytest.mark.parametrize("word", ["qu\u0131t", "m\u017fg", "\uff2d\uff33\uff27"])
def test_only_ascii_spellings_are_commands(pair: tuple[Client, Client], word: str) -> None:
    # Dotless i and long s upper-case to "I" and "S"; only ASCII spells a command.
    alice, _ = pair
    alice.send(word)
    assert alice.lines() == [f"[server] Error: invalid command {word}"]
    assert alice.is_open


def test_the_last_argument_keeps_inner_spacing(pair: tuple[Client, Client]) -> None:
    alice, bob = pair
    alice.send("MSG a  b\t\tc")
    assert bob.lines() == ["[alice] a  b\t\tc"]
