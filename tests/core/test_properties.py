"""Properties over generated inputs: chunking invariance, robustness, flood control."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sansio_chat import (
    Abort,
    Action,
    ChatServerState,
    Close,
    ConnectionOpened,
    ConnectionReset,
    DataReceived,
    DialectName,
    EofReceived,
    Event,
    MessagesReceived,
    Mode,
    NickClaimAnswered,
    OutputBacklog,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
    ShutdownRequested,
    Tick,
    new_server_state,
)
from sansio_chat._irc_message import MAX_LINE_BYTES
from sansio_chat._modes import mask_matches
from tests.core_driver import OPER_PASSWORD, FakeNetwork

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: A small limit, so that generated lines often sit right at it.
LIMIT = 16

# Pieces that byte streams are made of: commands, terminators in odd places,
# bad bytes, and runs that put a line right around the limit.
FRAGMENTS = st.one_of(
    st.sampled_from(
        [
            b"\n",
            b"\r",
            b"\r\n",
            b" ",
            b"\t",
            b"MSG hi",
            b"MSG ",
            b"NICK bob",
            b"NICK Bob",
            b"NICK x y",
            b"WHO",
            b"PING",
            b"PING t",
            b"QUIT bye",
            b"OPER " + OPER_PASSWORD.encode(),
            b"OPER no",
            b"KILL guest1 x",
            b"HELP",
            b"JOIN #a",
            b"JOIN b",
            b"JOIN x y",
            b"join LOBBY",
            b"ME waves",
            b"TELL guest1 hi",
            b"TELL guest2",
            b"WHO #a",
            b"WHO",
            b"ROOMS",
            b"TOPIC t",
            b"TOPIC",
            b"KICK guest1 r",
            b"KICK guest2",
            b"\xc3\xa9",  # é
            b"\xc3",  # half of it
            b"\xff",
            b"\x1b",
            b"\xc2\x9b",  # U+009B
            b"\xc2\xa0",  # U+00A0
            b"\x00",
        ]
    ),
    st.integers(LIMIT - 2, LIMIT + 2).map(lambda n: b"x" * n),
    st.binary(max_size=8),
)
TERMINATORS = st.sampled_from([b"\n", b"\r\n", b"\r", b""])
# Whole lines: a command word, then fragments, or a line of about the limit's size.
LINES = st.one_of(
    st.tuples(
        st.sampled_from(
            [b"MSG ", b"NICK ", b"PING ", b"QUIT ", b"msg\t", b"JOIN ", b"ME ", b"TELL ", b"KICK ", b""]
        ),
        st.lists(FRAGMENTS, max_size=4).map(b"".join),
        TERMINATORS,
    ).map(b"".join),
    st.tuples(st.integers(LIMIT - 5, LIMIT - 3).map(lambda n: b"MSG " + b"x" * n), TERMINATORS).map(b"".join),
)
STREAMS = st.lists(st.one_of(LINES, FRAGMENTS), max_size=25).map(b"".join)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if b > a]


def run_stream(config: ServerConfig, chunks: list[bytes]) -> list[Action]:
    """A listener (conn 1) and a talker (conn 2): the talker sends ``chunks`` then EOF."""
    state = new_server_state(config)
    actions: list[Action] = []
    actions += state.receive(ConnectionOpened(conn=1, peer="listener"))
    actions += state.receive(ConnectionOpened(conn=2, peer="talker"))
    for chunk in chunks:
        actions += state.receive(DataReceived(conn=2, data=chunk))
    actions += state.receive(EofReceived(conn=2))
    now = 0.0
    for _ in range(1000):  # flood control: let the held lines through
        wakeup = state.next_wakeup
        if wakeup is None:
            return actions
        now = max(now, wakeup)
        actions += state.receive(Tick(now=now))
    raise AssertionError("held lines never went through")


def joined(actions: list[Action]) -> list[Action]:
    """Consecutive sends to the same recipients as one: how a read splits lines may batch them."""
    out: list[Action] = []
    for action in actions:
        last = out[-1] if out else None
        if isinstance(action, Send) and isinstance(last, Send) and last.conns == action.conns:
            out[-1] = Send(conns=last.conns, data=last.data + action.data)
        else:
            out.append(action)
    return out


CONFIGS = st.builds(
    ServerConfig,
    mode=st.sampled_from([Mode.CHAT, Mode.RELAY]),
    oper_password=st.just(OPER_PASSWORD),
    max_line_bytes=st.just(LIMIT),
    rate_lines=st.sampled_from([0.0, 1.0, 3.0]),
    rate_burst=st.integers(1, 4),
)


@SETTINGS
@given(config=CONFIGS, data=STREAMS, cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_the_same_bytes_split_any_way_give_the_same_actions(
    config: ServerConfig, data: bytes, cuts: list[int]
) -> None:
    assert joined(run_stream(config, split(data, cuts))) == joined(run_stream(config, [data]))


@SETTINGS
@given(config=CONFIGS, data=STREAMS)
def test_one_byte_at_a_time_gives_the_same_actions(config: ServerConfig, data: bytes) -> None:
    bytewise = [data[i : i + 1] for i in range(len(data))]
    assert joined(run_stream(config, bytewise)) == joined(run_stream(config, [data]))


@SETTINGS
@given(data=STREAMS, cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_echo_returns_the_same_bytes_however_split(data: bytes, cuts: list[int]) -> None:
    config = ServerConfig(mode=Mode.ECHO)
    sent = b"".join(a.data for a in run_stream(config, split(data, cuts)) if isinstance(a, Send))
    assert sent == data


# -- arbitrary events never break the core ---------------------------------------

# Every server line: a tag (``[server]``, ``[nick]``, ``[nick -> nick]``) or an action (``* nick``),
# a space, then text without control characters but TAB.
_NICK = r"[^\W_][\w-]{0,23}"
SERVER_LINE = re.compile(
    rf"(\[(server|{_NICK}|{_NICK} -> {_NICK})\]|\* {_NICK}) [^\x00-\x08\x0a-\x1f\x7f-\x9f]*"
)


#: What web clients send: every command, fields missing, of the wrong type, or not JSON at all.
MESSAGES = st.one_of(
    st.builds(
        lambda cmd, fields: json.dumps({"cmd": cmd, **fields}).encode(),
        st.sampled_from(
            ["msg", "me", "tell", "nick", "join", "who", "rooms", "topic", "kick", "quit", "ping", "x"]
        ),
        st.dictionaries(
            st.sampled_from(["text", "nick", "room", "reason", "token"]),
            st.one_of(
                st.sampled_from(["hi", "bob", "guest1", "#a", "\n", ""]), st.text(max_size=5), st.none()
            ),
            max_size=3,
        ),
    ),
    st.binary(max_size=20),
)


@st.composite
def event_scripts(draw: st.DrawFn) -> list[Event]:
    """Opens with fresh ids, anything for any id (closed or never opened), rising time."""
    events: list[Event] = []
    opened = 0
    now = 0.0
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(
            st.sampled_from(
                [
                    "open",
                    "data",
                    "data",
                    "data",
                    "message",
                    "eof",
                    "reset",
                    "flushed",
                    "tick",
                    "answer",
                    "stop",
                ]
            )
        )
        conn = draw(st.integers(1, opened + 1))
        if kind == "open":
            opened += 1
            dialect = draw(st.sampled_from(DialectName))
            events.append(ConnectionOpened(conn=opened, peer=f"peer{opened}", dialect=dialect))
        elif kind == "data":
            events.append(DataReceived(conn=conn, data=draw(STREAMS)))
        elif kind == "message":
            messages = tuple(draw(st.lists(MESSAGES, min_size=1, max_size=3)))
            events.append(MessagesReceived(conn=conn, messages=messages))
        elif kind == "eof":
            events.append(EofReceived(conn=conn))
        elif kind == "reset":
            events.append(ConnectionReset(conn=conn))
        elif kind == "flushed":
            events.append(OutputBacklog(conn=conn, unsent=draw(st.integers(0, 600))))
        elif kind == "tick":
            now += draw(st.floats(0, 5, allow_nan=False))
            events.append(Tick(now=now))
        elif kind == "answer":  # to a claim waiting, answered already, or never made
            events.append(NickClaimAnswered(claim=draw(st.integers(1, 30)), granted=draw(st.booleans())))
        else:
            events.append(ShutdownRequested())
    return events


ROBUST_CONFIGS = st.builds(
    ServerConfig,
    mode=st.sampled_from(list(Mode)),
    oper_password=st.sampled_from(["", OPER_PASSWORD]),
    max_clients=st.integers(1, 4),
    max_line_bytes=st.sampled_from([1, LIMIT, 4096]),
    max_pending_bytes=st.sampled_from([50, 400, 1 << 20]),
    rate_lines=st.sampled_from([0.0, 2.0, 50.0]),
    rate_burst=st.integers(1, 5),
)


def assert_well_formed(data: bytes) -> None:
    """UTF-8 lines ending in LF, each ``[tag] text`` or ``* nick text``, no control character but TAB."""
    assert data.endswith(b"\n")
    for line in data.decode().split("\n")[:-1]:
        assert SERVER_LINE.fullmatch(line), line


def assert_irc_lines(data: bytes) -> None:
    """CR LF lines of at most 512 bytes without their tags, UTF-8, never a NUL, no empty parameter."""
    assert data.endswith(b"\r\n") and b"\0" not in data
    for line in data.split(b"\r\n")[:-1]:
        assert b"\r" not in line and b"\n" not in line
        body = line.partition(b" ")[2] if line.startswith(b"@") else line
        assert len(body) + 2 <= MAX_LINE_BYTES, line
        middles = body.partition(b" :")[0]
        assert b"  " not in middles and not middles.endswith(b" "), line  # an empty middle parameter
        line.decode()  # UTF-8


def check_rendering(events: list[Event], results: list[list[Action]]) -> None:
    """Every send is for one kind of client, and well formed for it."""
    dialects = {e.conn: e.dialect for e in events if isinstance(e, ConnectionOpened)}
    check = {
        DialectName.TEXT: assert_well_formed,
        DialectName.IRC: assert_irc_lines,
        DialectName.WEB: assert_json_events,
    }
    for actions in results:
        for action in actions:
            if isinstance(action, Send):
                (dialect,) = {dialects[conn] for conn in action.conns}
                check[dialect](action.data)


def assert_json_events(data: bytes) -> None:
    """ASCII lines ending in LF, each one JSON object with a ``type``."""
    assert data.endswith(b"\n") and data.isascii()
    for line in data.split(b"\n")[:-1]:
        event = json.loads(line)
        assert isinstance(event, dict) and isinstance(event["type"], str), line


@SETTINGS
@given(data=STREAMS)
def test_what_a_chat_client_receives_is_always_well_formed(data: bytes) -> None:
    config = ServerConfig(oper_password=OPER_PASSWORD, max_line_bytes=LIMIT, rate_lines=0)
    for action in run_stream(config, [data]):
        if isinstance(action, Send):
            assert_well_formed(action.data)


@SETTINGS
@given(text=st.text(max_size=20).filter(lambda t: "\n" not in t and not t.endswith("\r")))
def test_a_msg_is_relayed_exactly_or_refused_and_never_carries_a_control_character(text: str) -> None:
    net = FakeNetwork()
    talker, listener = net.join("talker", "listener")
    talker.send_bytes(b"MSG " + text.encode() + b"\n")
    heard, told = listener.lines(), talker.lines()
    body = text.strip(" \t")
    if any((ch < " " and ch != "\t") or "\x7f" <= ch <= "\x9f" for ch in text):
        assert (heard, told) == ([], ["[server] Error: control characters are not allowed"])
    elif not body:
        assert (heard, told) == ([], ["[server] Error: usage: MSG <text>"])
    else:
        assert (heard, told) == ([f"[talker] {body}"], [])


@SETTINGS
@given(text=st.text(alphabet=" \tPINGx", min_size=1, max_size=16))
def test_the_command_word_ends_at_the_first_blank_and_its_argument_after_the_run(text: str) -> None:
    net = FakeNetwork()
    (alice,) = net.join("alice")
    alice.send(text)
    stripped = text.strip(" \t")
    word = re.split("[ \t]", stripped, maxsplit=1)[0]
    rest = stripped[len(word) :].lstrip(" \t")
    if not stripped:
        expected = []
    elif word.upper() == "PING":
        expected = [f"[server] PONG {rest}" if rest else "[server] PONG"]
    else:
        expected = [f"[server] Error: invalid command {word}"]
    assert alice.lines() == expected


def check_contract(actions_per_event: Iterator[list[Action]]) -> None:
    """Nothing is named after its close, each close happens once, pauses alternate."""
    closed: set[int] = set()
    paused: set[int] = set()
    for actions in actions_per_event:
        for action in actions:
            match action:
                case Send(conns=conns):
                    assert conns and len(set(conns)) == len(conns)
                    assert not closed & set(conns)
                case Close(conn=conn) | Abort(conn=conn):
                    assert conn not in closed
                    closed.add(conn)
                    paused.discard(conn)
                case PauseReading(conn=conn):
                    assert conn not in closed and conn not in paused
                    paused.add(conn)
                case ResumeReading(conn=conn):
                    assert conn in paused
                    paused.remove(conn)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=ROBUST_CONFIGS, events=event_scripts())
def test_arbitrary_events_never_raise_and_keep_the_contract(
    config: ServerConfig, events: list[Event]
) -> None:
    state = new_server_state(config)
    results = [state.receive(event) for event in events]
    check_contract(iter(results))
    if config.mode is Mode.CHAT:
        check_rendering(events, results)


# -- flood control ---------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 7.0, 50.0]),
    burst=st.integers(1, 6),
    start=st.sampled_from([0.0, 1.5, 102267.897709449]),
    gaps=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=40),
    batch=st.lists(st.integers(1, 4), min_size=40, max_size=40),
)
def test_flooded_lines_are_delayed_never_lost_and_never_faster_than_the_bucket(
    rate: float, burst: int, start: float, gaps: list[float], batch: list[int]
) -> None:
    net = FakeNetwork(ServerConfig(rate_lines=rate, rate_burst=burst))
    net.tick(start)
    talker, listener = net.connect_many(2)
    listener.lines()
    number = 0
    now = start
    for gap, count in zip(gaps, batch, strict=False):
        now += gap
        net.tick(now)
        data = b""
        for _ in range(count):
            number += 1
            data += f"MSG {number}\n".encode()
        talker.send_bytes(data)  # while paused the driver holds it, like the kernel would
    net.run_timers()

    accepted = [  # (line number, time it went out); one send may carry several lines
        (int(line.removeprefix("[guest1] ")), time)
        for time, action in net.timeline
        if isinstance(action, Send)
        for line in action.data.decode().splitlines()
        if line.startswith("[guest1] ")
    ]
    assert [n for n, _ in accepted] == list(range(1, number + 1))  # none lost, order kept
    assert not talker.paused
    times = [t for _, t in accepted]
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-6


class HalfDeferringRegistry:
    """Answers odd claims at once (yes) and leaves even ones waiting for a ``NickClaimAnswered``."""

    def claim(self, claim: int, key: str) -> bool | None:
        return True if claim % 2 else None

    def release(self, key: str) -> None:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=ROBUST_CONFIGS.filter(lambda c: c.mode is Mode.CHAT), events=event_scripts())
def test_claims_that_wait_never_break_the_contract(config: ServerConfig, events: list[Event]) -> None:
    state = ChatServerState(config, registry=HalfDeferringRegistry())
    results = [state.receive(event) for event in events]
    check_contract(iter(results))
    check_rendering(events, results)


def wildcards_match(mask: str, text: str) -> bool:
    """What a mask means: ``*`` any run, ``?`` any one character (slow and plainly right)."""
    if not mask:
        return not text
    if mask[0] == "*":
        return any(wildcards_match(mask[1:], text[at:]) for at in range(len(text) + 1))
    return bool(text) and mask[0] in ("?", text[0]) and wildcards_match(mask[1:], text[1:])


@SETTINGS
@given(mask=st.text(alphabet="ab*?", max_size=10), text=st.text(alphabet="abc", max_size=10))
def test_masks_match_what_wildcards_mean(mask: str, text: str) -> None:
    assert mask_matches(mask, text) == wildcards_match(mask, text)


def test_a_mask_full_of_stars_is_matched_in_no_time() -> None:
    """A typed mask like ``*a*a*...*b`` must not make the matcher backtrack exponentially."""
    assert not mask_matches("#" + "*a" * 100 + "*b", "#" + "a" * 200)
    assert mask_matches("#" + "*a" * 100 + "*b", "#" + "a" * 200 + "b")
