"""The IRC message format: reading, writing, limits, long text, formatting codes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sansio_chat._irc_message import (
    MAX_CLIENT_LINE_BYTES,
    MAX_CLIENT_TAG_BYTES,
    MAX_LINE_BYTES,
    MAX_TAGS_BYTES,
    BadMessage,
    IRCMessage,
    MessageFault,
    parse_message,
    serialize_message,
    split_text,
    strip_formatting,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parsed(line: bytes) -> IRCMessage:
    message = parse_message(line)
    assert isinstance(message, IRCMessage), message
    return message


def written(message: IRCMessage, *, force_trailing: bool = False) -> bytes:
    line = serialize_message(message, force_trailing=force_trailing)
    assert isinstance(line, bytes), line
    return line


def fault(line: bytes) -> MessageFault:
    result = parse_message(line)
    assert isinstance(result, BadMessage), result
    return result.fault


# -- reading: the parts of a message ----------------------------------------------------------


def test_a_message_with_every_part() -> None:
    message = parsed(b"@color=blue;flag;vendor.example/mood=calm :kim!k@host.test PRIVMSG you :Hi there")
    assert message == IRCMessage(
        tags=(("color", "blue"), ("flag", ""), ("vendor.example/mood", "calm")),
        source="kim!k@host.test",
        command="PRIVMSG",
        params=("you", "Hi there"),
    )


def test_a_bare_command() -> None:
    assert parsed(b"LUSERS") == IRCMessage(command="LUSERS")


def test_the_command_is_upper_cased() -> None:
    assert parsed(b"privMsg #room :hey").command == "PRIVMSG"


def test_a_numeric_is_three_digits() -> None:
    assert parsed(b":srv.test 001 kim :Welcome, kim") == IRCMessage(
        source="srv.test", command="001", params=("kim", "Welcome, kim")
    )


@pytest.mark.parametrize("word", ["12", "1234", "PRIV2", "PRIV-MSG", "été", "١٢٣"])
def test_a_command_is_letters_or_three_digits(word: str) -> None:
    bad = BadMessage(fault=MessageFault.INVALID_COMMAND, command=word)
    assert parse_message(f"{word} x".encode()) == bad


def test_the_trailing_parameter_is_a_parameter_like_the_others() -> None:
    assert parsed(b"PRIVMSG #room :Hi!").params == parsed(b"PRIVMSG #room Hi!").params == ("#room", "Hi!")


def test_the_trailing_parameter_may_be_empty() -> None:
    assert parsed(b":srv.test CAP * LIST :").params == ("*", "LIST", "")


def test_the_trailing_parameter_keeps_its_spaces_and_colons() -> None:
    assert parsed(b"CAP * LS :multi-prefix  sasl ").params == ("*", "LS", "multi-prefix  sasl ")
    assert parsed(b"PRIVMSG #room ::-( sad").params == ("#room", ":-( sad")


def test_only_the_first_parameter_starting_with_a_colon_is_trailing() -> None:
    assert parsed(b"X a :b :c").params == ("a", "b :c")


def test_a_colon_inside_a_middle_parameter_is_text() -> None:
    assert parsed(b"X a:b c:").params == ("a:b", "c:")


def test_runs_of_spaces_separate_parts() -> None:
    message = parsed(b"@k=v   :kim!k@h   PRIVMSG    #room    hello   ")
    assert message == IRCMessage(
        tags=(("k", "v"),), source="kim!k@h", command="PRIVMSG", params=("#room", "hello")
    )
    assert parsed(b"  PING    :tok  en").params == ("tok  en",)


def test_a_cr_before_the_lf_is_not_part_of_the_message() -> None:
    assert parsed(b"PRIVMSG #room :hi\r") == parsed(b"PRIVMSG #room :hi")


def test_fifteen_parameters_are_no_limit_when_reading() -> None:
    words = [f"p{i}" for i in range(20)]
    assert parsed(("X " + " ".join(words)).encode()).params == tuple(words)


def test_a_source_without_a_name_is_no_source() -> None:
    assert parsed(b": PING tok") == IRCMessage(command="PING", params=("tok",))


# -- reading: tags ------------------------------------------------------------------------------


def test_tag_values_are_unescaped() -> None:
    # Raw value "a+:=,b; \" travels as "a+:=,b\:\s\\".
    assert parsed(rb"@+example=a+:=,b\:\s\\ :srv.test NOTICE #room :Text").tag("+example") == "a+:=,b; \\"


def test_cr_and_lf_travel_escaped_in_tag_values() -> None:
    assert parsed(rb"@note=one\rtwo\nthree X").tag("note") == "one\rtwo\nthree"


def test_an_unknown_escape_is_the_character_itself() -> None:
    assert parsed(r"@k=\q\-\é X".encode()).tag("k") == "q-é"


def test_a_lone_backslash_at_the_end_is_dropped() -> None:
    assert parsed(rb"@k=end\ X").tag("k") == "end"
    assert parsed(rb"@k=\\\ X").tag("k") == "\\"


def test_an_empty_value_is_no_value() -> None:
    assert parsed(b"@a=;b X") == parsed(b"@a;b X")
    assert parsed(b"@a=;b X").tags == (("a", ""), ("b", ""))


def test_a_repeated_key_keeps_its_last_value() -> None:
    assert parsed(b"@k=1;other=2;k=3 X").tags == (("k", "3"), ("other", "2"))


def test_client_only_and_vendor_keys_are_kept_as_they_are() -> None:
    message = parsed(b"@+typing=active;+ex.test/Bar;Odd.Key!=1 TAGMSG #room")
    assert message.tags == (("+typing", "active"), ("+ex.test/Bar", ""), ("Odd.Key!", "1"))


def test_empty_tag_items_are_skipped() -> None:
    assert parsed(b"@;a=1;;=orphan; X").tags == (("a", "1"),)


def test_an_empty_tag_section() -> None:
    assert parsed(b"@ X") == IRCMessage(command="X")


def test_looking_up_a_tag() -> None:
    message = parsed(b"@a=1;b X")
    assert (message.tag("a"), message.tag("b"), message.tag("c")) == ("1", "", None)


# -- reading: what cannot be read ---------------------------------------------------------------


@pytest.mark.parametrize("line", [b"", b"\r", b"    ", b"   \r"])
def test_an_empty_line(line: bytes) -> None:
    assert fault(line) is MessageFault.EMPTY


@pytest.mark.parametrize("line", [b"@a=1", b"@a=1 ", b"@", b":kim!k@h", b":kim!k@h   ", b"@a :src"])
def test_tags_or_a_source_without_a_command(line: bytes) -> None:
    assert parse_message(line) == BadMessage(fault=MessageFault.NO_COMMAND)


@pytest.mark.parametrize(
    "line",
    [b"PRIVMSG #room :a\0b", b"PRIVMSG #room :a\rb", b"PRIVMSG #room :a\nb", b"@k=a\0b X", b"\0"],
)
def test_nul_and_inner_cr_or_lf_are_forbidden(line: bytes) -> None:
    assert fault(line) is MessageFault.FORBIDDEN_CHARACTER


def test_a_forbidden_character_names_the_command_when_it_can() -> None:
    assert parse_message(b"privmsg #a :\0") == BadMessage(
        fault=MessageFault.FORBIDDEN_CHARACTER, command="PRIVMSG"
    )


def test_invalid_utf8_names_the_command_for_the_fail_reply() -> None:
    assert parse_message(b"privmsg #room :caf\xe9") == BadMessage(
        fault=MessageFault.INVALID_UTF8, command="PRIVMSG"
    )
    assert parse_message(b"@k=\xff PING x") == BadMessage(fault=MessageFault.INVALID_UTF8, command="PING")


def test_invalid_utf8_in_the_command_leaves_the_command_unknown() -> None:
    assert parse_message(b"PRIV\xffMSG #room :hi") == BadMessage(fault=MessageFault.INVALID_UTF8)


# -- reading: limits ----------------------------------------------------------------------------


def _line_of(size: int, *, tags: bytes = b"") -> bytes:
    """``PRIVMSG #r :xxx...`` of exactly ``size`` bytes without CR LF, after ``tags``."""
    head = b"PRIVMSG #r :"
    return tags + head + b"x" * (size - len(head))


def test_a_message_fills_512_bytes_with_its_cr_lf() -> None:
    assert len(parsed(_line_of(MAX_LINE_BYTES - 2) + b"\r").params[1]) == MAX_LINE_BYTES - 2 - 12
    assert fault(_line_of(MAX_LINE_BYTES - 1)) is MessageFault.TOO_LONG


def test_the_limit_counts_bytes_not_characters() -> None:
    head = b"PRIVMSG #r :"
    fits = head + "é".encode() * ((MAX_LINE_BYTES - 2 - len(head)) // 2)
    assert isinstance(parse_message(fits), IRCMessage)
    assert fault(fits + "é".encode()) is MessageFault.TOO_LONG


def test_tags_do_not_count_towards_the_512_bytes() -> None:
    tags = b"@k=" + b"v" * (MAX_CLIENT_TAG_BYTES - 2) + b" "
    message = parsed(_line_of(MAX_LINE_BYTES - 2, tags=tags))
    assert len(message.tags[0][1]) == MAX_CLIENT_TAG_BYTES - 2
    assert fault(_line_of(MAX_LINE_BYTES - 1, tags=tags)) is MessageFault.TOO_LONG


def test_a_client_sends_at_most_4094_bytes_of_tag_data() -> None:
    tags = b"@k=" + b"v" * (MAX_CLIENT_TAG_BYTES - 1) + b" "
    assert fault(tags + b"PING x") is MessageFault.TAGS_TOO_LONG
    assert fault(tags[:-1]) is MessageFault.TAGS_TOO_LONG  # no space: all of it is tags


def test_a_client_reading_a_server_allows_its_larger_tag_section() -> None:
    tags = b"@k=" + b"v" * (MAX_TAGS_BYTES - 2 - 2) + b" "
    assert len(tags) == MAX_TAGS_BYTES
    assert isinstance(parse_message(tags + b"PING x", max_tag_bytes=MAX_TAGS_BYTES - 2), IRCMessage)


def test_the_longest_line_a_client_may_send() -> None:
    tags = b"@k=" + b"v" * (MAX_CLIENT_TAG_BYTES - 2) + b" "
    line = _line_of(MAX_LINE_BYTES - 2, tags=tags)
    assert len(line) == MAX_CLIENT_LINE_BYTES
    assert isinstance(parse_message(line), IRCMessage)


def test_limits_come_before_content() -> None:
    assert fault(_line_of(MAX_LINE_BYTES) + b"\0\xff") is MessageFault.TOO_LONG


# -- writing ------------------------------------------------------------------------------------


def test_writing_every_part() -> None:
    message = IRCMessage(
        tags=(("time", "2024-05-01T10:00:00.000Z"), ("+mood", "calm; very")),
        source="kim!k@host.test",
        command="PRIVMSG",
        params=("#room", "good morning"),
    )
    assert written(message) == (
        rb"@time=2024-05-01T10:00:00.000Z;+mood=calm\:\svery :kim!k@host.test PRIVMSG #room :good morning"
        + b"\r\n"
    )


def test_the_last_parameter_gets_a_colon_only_when_it_needs_one() -> None:
    assert written(IRCMessage(command="MODE", params=("#room", "+o", "kim"))) == b"MODE #room +o kim\r\n"
    assert written(IRCMessage(command="X", params=("a", ""))) == b"X a :\r\n"
    assert written(IRCMessage(command="X", params=("a", "b c"))) == b"X a :b c\r\n"
    assert written(IRCMessage(command="X", params=("a", ":)"))) == b"X a ::)\r\n"
    assert written(IRCMessage(command="X", params=("a:b",))) == b"X a:b\r\n"


def test_the_colon_can_be_forced_for_message_text() -> None:
    message = IRCMessage(source="kim!k@h", command="PRIVMSG", params=("#room", "hi"))
    assert written(message, force_trailing=True) == b":kim!k@h PRIVMSG #room :hi\r\n"


def test_no_parameters() -> None:
    assert written(IRCMessage(command="QUIT")) == b"QUIT\r\n"
    assert written(IRCMessage(command="QUIT"), force_trailing=True) == b"QUIT\r\n"


def test_tag_values_are_escaped() -> None:
    message = IRCMessage(command="TAGMSG", params=("#room",), tags=(("+k", "a;b c\\d\re\nf"),))
    assert written(message) == rb"@+k=a\:b\sc\\d\re\nf TAGMSG #room" + b"\r\n"


def test_a_tag_without_a_value_is_written_as_its_key() -> None:
    assert written(IRCMessage(command="X", tags=(("a", ""), ("b", "1")))) == b"@a;b=1 X\r\n"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (IRCMessage(command="PRIV2"), MessageFault.INVALID_COMMAND),
        (IRCMessage(command=""), MessageFault.INVALID_COMMAND),
        (IRCMessage(command="X", source=""), MessageFault.INVALID_SOURCE),
        (IRCMessage(command="X", source="a b"), MessageFault.INVALID_SOURCE),
        (IRCMessage(command="X", params=("", "x")), MessageFault.INVALID_PARAM),
        (IRCMessage(command="X", params=("a b", "x")), MessageFault.INVALID_PARAM),
        (IRCMessage(command="X", params=(":a", "x")), MessageFault.INVALID_PARAM),
        (IRCMessage(command="X", params=("a", "b\r\nQUIT")), MessageFault.FORBIDDEN_CHARACTER),
        (IRCMessage(command="X", params=("a\0", "b")), MessageFault.FORBIDDEN_CHARACTER),
        (IRCMessage(command="X", source="a\nb"), MessageFault.FORBIDDEN_CHARACTER),
        (IRCMessage(command="X", tags=(("k", "a\0"),)), MessageFault.FORBIDDEN_CHARACTER),
        (IRCMessage(command="X", tags=(("", "v"),)), MessageFault.INVALID_TAG),
        (IRCMessage(command="X", tags=(("k", "1"), ("k", "2"))), MessageFault.INVALID_TAG),
        (IRCMessage(command="X", tags=(("a=b", ""),)), MessageFault.INVALID_TAG),
        (IRCMessage(command="X", tags=(("a;b", ""),)), MessageFault.INVALID_TAG),
        (IRCMessage(command="X", tags=(("a b", ""),)), MessageFault.INVALID_TAG),
        (IRCMessage(command="X", tags=(("a\r", ""),)), MessageFault.INVALID_TAG),
        (IRCMessage(command="X", params=("\udcff",)), MessageFault.INVALID_UTF8),
        (IRCMessage(command="X", tags=(("k", "\ud800"),)), MessageFault.INVALID_UTF8),
    ],
)
def test_what_cannot_be_written(message: IRCMessage, expected: MessageFault) -> None:
    assert serialize_message(message) == BadMessage(fault=expected, command=message.command)


def test_a_written_line_fits_512_bytes() -> None:
    head = "PRIVMSG #r :"
    fits = IRCMessage(command="PRIVMSG", params=("#r", "x" * (MAX_LINE_BYTES - 2 - len(head))))
    assert len(written(fits, force_trailing=True)) == MAX_LINE_BYTES
    over = IRCMessage(command="PRIVMSG", params=("#r", "x" * (MAX_LINE_BYTES - len(head))))
    assert serialize_message(over) == BadMessage(fault=MessageFault.TOO_LONG, command="PRIVMSG")
    tagged = IRCMessage(command=over.command, params=over.params, tags=(("k", "v"),))
    assert serialize_message(tagged) == BadMessage(fault=MessageFault.TOO_LONG, command="PRIVMSG")
    fits_tagged = IRCMessage(command=fits.command, params=fits.params, tags=(("k", "v"),))
    assert len(written(fits_tagged, force_trailing=True)) == MAX_LINE_BYTES + len("@k=v ")


def test_a_written_tag_section_fits_8191_bytes() -> None:
    # "@" + "k=" + value + " " is the tag section.
    fits = IRCMessage(command="X", tags=(("k", "v" * (MAX_TAGS_BYTES - 4)),))
    assert written(fits).index(b" X") == MAX_TAGS_BYTES - 1
    over = IRCMessage(command="X", tags=(("k", "v" * (MAX_TAGS_BYTES - 3)),))
    assert serialize_message(over) == BadMessage(fault=MessageFault.TAGS_TOO_LONG, command="X")


def test_escaping_counts_towards_the_tag_limit() -> None:
    over = IRCMessage(command="X", tags=(("k", ";" * (MAX_TAGS_BYTES // 2)),))
    assert serialize_message(over) == BadMessage(fault=MessageFault.TAGS_TOO_LONG, command="X")


# -- long text ----------------------------------------------------------------------------------


def _lines(pieces: tuple[str, ...] | BadMessage, *, source: str | None, target: str) -> list[bytes]:
    assert isinstance(pieces, tuple), pieces
    return [
        written(IRCMessage(source=source, command="PRIVMSG", params=(target, piece)), force_trailing=True)
        for piece in pieces
    ]


def test_a_short_text_is_one_piece() -> None:
    assert split_text("hello", command="PRIVMSG", target="#room") == ("hello",)
    assert split_text("", command="PRIVMSG", target="#room") == ("",)


def test_a_long_text_is_cut_into_lines_that_fit() -> None:
    source = "kim!k@host.test"
    text = "x" * 1200
    pieces = split_text(text, command="PRIVMSG", target="#room", source=source)
    lines = _lines(pieces, source=source, target="#room")
    head = f":{source} PRIVMSG #room :"
    room = MAX_LINE_BYTES - len(head) - 2
    rest = 1200 - 2 * room
    assert pieces == ("x" * room, "x" * room, "x" * rest)
    assert [len(line) for line in lines] == [MAX_LINE_BYTES, MAX_LINE_BYTES, len(head) + rest + 2]


def test_pieces_end_at_character_boundaries() -> None:
    text = "a" + "🙂" * 200  # four bytes each, one byte out of step
    pieces = split_text(text, command="PRIVMSG", target="#room")
    assert isinstance(pieces, tuple)
    assert "".join(pieces) == text
    assert all(len(line) <= MAX_LINE_BYTES for line in _lines(pieces, source=None, target="#room"))
    assert len(_lines(pieces, source=None, target="#room")[0]) > MAX_LINE_BYTES - 4


#: One user-perceived character each, of several code points: a piece never ends inside one.
CLUSTERS = [
    "e\u0301",  # e and a combining acute accent (text typed decomposed)
    "a\u0323\u0302",  # two combining marks
    "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # a family: emoji joined by ZWJ
    "\U0001f44d\U0001f3fd",  # a thumb with a skin tone
    "\u2764\ufe0f",  # a variation selector
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # a flag of tag characters
    "\U0001f1eb\U0001f1f7",  # a flag: two regional indicators
    "\u1100\u1161\u11a8",  # a Hangul syllable in jamo (leading, vowel, trailing)
    "\u1100\u1100\uac00",  # leading jamo before a precomposed syllable
]


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("shift", range(8))
def test_pieces_end_between_user_perceived_characters(cluster: str, shift: int) -> None:
    # An IRC client shows each piece as a line of its own: a piece that ended inside a
    # character would show it broken in two (an accent alone, half a flag).
    text = "a" * shift + cluster * (1600 // len(cluster.encode()))
    pieces = split_text(text, command="PRIVMSG", target="#room", source="kim!k@host.test")
    assert isinstance(pieces, tuple)
    assert "".join(pieces) == text
    assert len(pieces) > 1
    assert all(
        len(line) <= MAX_LINE_BYTES for line in _lines(pieces, source="kim!k@host.test", target="#room")
    )
    cut = 0
    for piece in pieces[:-1]:
        cut += len(piece)
        assert (cut - shift) % len(cluster) == 0, (piece[-3:], cut)


def test_a_character_longer_than_a_line_is_still_cut() -> None:
    # Nothing to choose from: the pieces end at code points, and nothing is lost.
    text = "e" + "\u0301" * 1000
    pieces = split_text(text, command="PRIVMSG", target="#room")
    assert isinstance(pieces, tuple)
    assert "".join(pieces) == text
    assert all(len(line) <= MAX_LINE_BYTES for line in _lines(pieces, source=None, target="#room"))


def test_pieces_end_after_a_space_in_the_second_half() -> None:
    words = " ".join(["word"] * 200)
    pieces = split_text(words, command="PRIVMSG", target="#room")
    assert isinstance(pieces, tuple)
    assert "".join(pieces) == words
    assert all(piece.endswith(" ") for piece in pieces[:-1])
    assert not any(piece.startswith(" ") for piece in pieces)


def test_a_space_early_in_the_piece_does_not_make_it_short() -> None:
    text = "ab " + "x" * 1000
    pieces = split_text(text, command="PRIVMSG", target="#room")
    assert isinstance(pieces, tuple)
    assert len(pieces[0]) == MAX_LINE_BYTES - len("PRIVMSG #room :") - 2


def test_room_can_be_reserved_for_a_wrapper() -> None:
    wrapper = len("\x01ACTION \x01")
    pieces = split_text("y" * 1000, command="PRIVMSG", target="#room", reserve=wrapper)
    assert isinstance(pieces, tuple)
    lines = _lines(tuple(f"\x01ACTION {piece}\x01" for piece in pieces), source=None, target="#room")
    assert [len(line) for line in lines[:-1]] == [MAX_LINE_BYTES] * (len(lines) - 1)


def test_text_that_cannot_fit_at_all() -> None:
    one_byte_room = "#" + "r" * (MAX_LINE_BYTES - len("PRIVMSG  :") - 2 - 2)
    assert split_text("x", command="PRIVMSG", target=one_byte_room) == ("x",)
    assert split_text("é", command="PRIVMSG", target=one_byte_room) == BadMessage(
        fault=MessageFault.TOO_LONG, command="PRIVMSG"
    )
    assert split_text("x", command="PRIVMSG", target="#room", reserve=600) == BadMessage(
        fault=MessageFault.TOO_LONG, command="PRIVMSG"
    )


def test_text_without_a_utf8_spelling() -> None:
    assert split_text("a\udcffb", command="PRIVMSG", target="#room") == BadMessage(
        fault=MessageFault.INVALID_UTF8, command="PRIVMSG"
    )
    assert split_text("ab", command="PRIVMSG", target="#r\ud800") == BadMessage(
        fault=MessageFault.INVALID_UTF8, command="PRIVMSG"
    )


# -- formatting codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("\x02b\x02 \x1di\x1d \x1fu\x1f \x1es\x1e \x11m\x11 \x16r\x16\x0f", "b i u s m r"),
        ("\x034red", "red"),
        ("\x0304red", "red"),
        ("\x03041", "1"),  # two digits at most: the third is text
        ("\x034,12on blue", "on blue"),
        ("\x0304,5on brown", "on brown"),
        ("\x034,123", "3"),
        ("\x03,5 comma", ",5 comma"),  # no foreground: the comma is text
        ("\x0312, then", ", then"),  # no background digits: the comma is text
        ("\x03 reset", " reset"),
        ("\x04FF00aaHEX", "HEX"),
        ("\x04ff00aa,000000on black", "on black"),
        ("\x04ff00aa,00 short", ",00 short"),
        ("\x04ff00 short", "ff00 short"),  # not six hex digits: the code alone
        ("\x04", ""),
    ],
)
def test_formatting_codes_are_stripped(text: str, plain: str) -> None:
    assert strip_formatting(text) == plain


def test_other_characters_are_left_alone() -> None:
    assert strip_formatting("\x01ACTION waves\x01 \x07") == "\x01ACTION waves\x01 \x07"


def test_text_without_codes_comes_back_as_it_is() -> None:
    text = "plain text, 12 digits, é"
    assert strip_formatting(text) is text


# -- properties ---------------------------------------------------------------------------------

_NO_BREAK = st.characters(codec="utf-8", exclude_characters="\0\r\n")
COMMANDS = st.from_regex(r"[A-Z]{1,12}", fullmatch=True) | st.from_regex(r"[0-9]{3}", fullmatch=True)
MIDDLES = st.text(st.characters(codec="utf-8", exclude_characters="\0\r\n "), min_size=1, max_size=12).filter(
    lambda param: param[0] != ":"
)
LASTS = st.text(_NO_BREAK, max_size=30)
SOURCES = st.none() | st.text(
    st.characters(codec="utf-8", exclude_characters="\0\r\n "), min_size=1, max_size=20
)
TAG_KEYS = st.text(st.characters(codec="utf-8", exclude_characters="\0\r\n ;="), min_size=1, max_size=10)
TAG_VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20)
MESSAGES = st.builds(
    IRCMessage,
    command=COMMANDS,
    params=st.one_of(
        st.just(()), st.tuples(st.lists(MIDDLES, max_size=6), LASTS).map(lambda p: (*p[0], p[1]))
    ),
    source=SOURCES,
    tags=st.dictionaries(TAG_KEYS, TAG_VALUES, max_size=4).map(lambda tags: tuple(tags.items())),
)
# Lines assembled from the grammar's own pieces (VALID_LINES are valid but for the command now and
# then), and the same with a bad piece put in somewhere (LINES).
_PIECES = st.lists(
    st.sampled_from(
        [b"a=b", b";", b"+k", b"=", b"\\", b"\\s", b" ", b"  ", b":", b"s!u@h", b"#r", b"\xc3\xa9"]
    ),
    max_size=6,
).map(b"".join)
VALID_LINES = st.builds(
    lambda tags, source, command, params: tags + source + command + params,
    st.just(b"") | _PIECES.map(lambda tags: b"@" + tags + b" "),
    st.sampled_from([b"", b":src!u@h ", b": ", b" :s  "]),
    st.sampled_from([b"PRIVMSG", b"001", b"ping", b"X", b"1x"]),
    _PIECES.map(lambda params: b" " + params),
)
LINES = st.builds(
    lambda line, at, bad: line[:at] + bad + line[at:],
    VALID_LINES,
    st.integers(0, 60),
    st.sampled_from([b"\r", b"\n", b"\0", b"\xff", b"\xc3", b"x" * 600]) | st.binary(max_size=3),
)


@SETTINGS
@given(line=st.binary(max_size=700) | LINES | VALID_LINES)
def test_reading_never_raises(line: bytes) -> None:
    result = parse_message(line)
    assert isinstance(result, IRCMessage | BadMessage)


@SETTINGS
@given(line=VALID_LINES | LINES)
def test_what_was_read_can_be_written_and_reads_the_same(line: bytes) -> None:
    message = parse_message(line)
    assume(isinstance(message, IRCMessage))
    assert isinstance(message, IRCMessage)
    again = serialize_message(message)
    assert isinstance(again, bytes), again
    assert parse_message(again[:-1]) == message  # the framing takes the LF


@SETTINGS
@given(message=MESSAGES, force_trailing=st.booleans())
def test_valid_messages_survive_a_round_trip(message: IRCMessage, force_trailing: bool) -> None:
    line = serialize_message(message, force_trailing=force_trailing)
    assume(isinstance(line, bytes))
    assert isinstance(line, bytes)
    assert parse_message(line[:-1], max_tag_bytes=MAX_TAGS_BYTES - 2) == message


@SETTINGS
@given(
    command=st.text(max_size=8),
    params=st.lists(st.text(max_size=10), max_size=4),
    source=st.none() | st.text(max_size=8),
    tags=st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=3),
    force_trailing=st.booleans(),
)
def test_writing_never_raises_nor_breaks_a_line(
    command: str, params: list[str], source: str | None, tags: list[tuple[str, str]], force_trailing: bool
) -> None:
    message = IRCMessage(command=command, params=tuple(params), source=source, tags=tuple(tags))
    line = serialize_message(message, force_trailing=force_trailing)
    if isinstance(line, bytes):
        assert line.endswith(b"\r\n")
        assert not any(char in line[:-2] for char in b"\0\r\n")


@SETTINGS
@given(
    text=st.text(max_size=1500),
    target=st.text(st.characters(codec="utf-8", exclude_characters="\0\r\n "), min_size=1, max_size=50),
    source=SOURCES,
)
def test_split_text_keeps_every_character_and_fits(text: str, target: str, source: str | None) -> None:
    assume(not any(char in text for char in "\0\r\n"))
    assume(target[0] != ":")
    pieces = split_text(text, command="PRIVMSG", target=target, source=source)
    assert isinstance(pieces, tuple)
    assert "".join(pieces) == text
    assert all(pieces) or pieces == ("",)
    for line in _lines(pieces, source=source, target=target):
        assert len(line) <= MAX_LINE_BYTES


_CODES = "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f"


@SETTINGS
@given(text=st.text(st.sampled_from("ab,0123456789fF \x01" + _CODES), max_size=40) | st.text(max_size=40))
def test_stripping_leaves_no_code(text: str) -> None:
    plain = strip_formatting(text)
    assert not any(code in plain for code in _CODES)
    assert strip_formatting(plain) == plain
    # What is left is the text without codes, less some digits and commas that followed a colour code.
    rest = iter(char for char in text if char not in _CODES)
    assert all(char in rest for char in plain)
