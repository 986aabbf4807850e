"""Properties of the Redis link over generated inputs.

* Chunking invariance: however the bytes from Redis are split, the link
  reports the same events and sends the same commands.
* Nothing raises: arbitrary bytes, broken connections, requests and
  subscriptions in any order and state never raise out of the link; once
  Redis is healthy again the link comes back up, every request has had
  exactly one answer, in request order, and Redis holds exactly the
  subscriptions the application wants.
* Reconnect delays stay within their bounds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cluster import (
    ErrorReply,
    LinkConfig,
    LinkEvent,
    LinkState,
    RedisAddress,
    RedisLink,
    Reply,
    RequestFailed,
    Role,
    Script,
    Subscribed,
    Unsubscribed,
)
from adapters.cluster._conn import reconnect_delay
from adapters.cluster._resp import ReplyError, ReplyReader

from .fake_redis import Chunker, Error, FakeRedis, LinkHarness, Simple, Value, encode_reply

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ECHO = b"sc:0:link:n1"
GREET = Script(name="greet", source="return 'hello'")
CONFIG = LinkConfig()
#: Long enough for any broken state to be noticed and repaired.
HEAL_SECONDS = (
    CONFIG.connect_timeout + CONFIG.reply_timeout + CONFIG.heartbeat_interval + 2 * CONFIG.reconnect_max
)


def make_harness(chunker: Chunker | None = None) -> LinkHarness:
    link = RedisLink(
        RedisAddress(host="redis.test", db=2),
        client_name="n1",
        echo_channel=ECHO,
        jitter=random.Random(3).random,
        now=0.0,
        scripts=(GREET,),
    )
    if chunker is None:
        return LinkHarness(link, FakeRedis())
    return LinkHarness(link, FakeRedis(), chunker=chunker)


def splitter(sizes: list[int]) -> Chunker:
    """Split every chunk into pieces of the given sizes, in a cycle."""

    def split(data: bytes) -> Iterator[bytes]:
        start, turn = 0, 0
        while start < len(data):
            size = sizes[turn % len(sizes)]
            yield data[start : start + size]
            start += size
            turn += 1

    return split


# -- chunking invariance ----------------------------------------------------------------


def session(h: LinkHarness) -> tuple[list[LinkEvent], list[list[bytes]]]:
    """A busy life: set-up, subscriptions, messages with awkward bytes, requests, a lost
    script, heartbeats, a broken subscription and its repair."""
    h.pump()
    for room in (b"room:a", b"room:b", b"room:\r\n"):
        h.link.subscribe(room)
    h.pump()
    for n, data in enumerate([b"hi", b"", b"\r\n", b"*3\r\n$7\r\nmessage", bytes(range(256)), b"x" * 5000]):
        h.redis.publish(b"room:a" if n % 2 else b"room:\r\n", data)
    h.link.call("SET", "k", b"\r\n\x00")
    h.link.call("GET", "k")
    h.link.call("GET", "none")
    h.redis.scripts.clear()
    h.link.run_script(GREET, keys=["k"], args=[b"a\r\nb"])
    h.link.call("NOSUCH", "x")
    h.link.unsubscribe(b"room:b")
    h.pump()
    h.advance(2.5)
    h.drop(Role.SUB)
    h.redis.publish(b"room:a", b"lost")
    h.advance(1.0)
    h.redis.publish(b"room:a", b"after")
    h.pump()
    return h.events, h.redis.log


@SETTINGS
@given(sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=8))
def test_any_split_of_the_bytes_from_redis_gives_the_same_events(sizes: list[int]) -> None:
    expected = session(make_harness())
    assert session(make_harness(splitter(sizes))) == expected


def test_the_session_above_exercises_what_it_claims() -> None:
    events, log = session(make_harness())
    kinds = {type(event).__name__ for event in events}
    assert kinds == {"LinkUp", "Subscribed", "Unsubscribed", "Message", "Reply", "LinkInterrupted"}
    assert [b"SCRIPT", b"LOAD", b"return 'hello'"] in log[3:]  # reloaded after NOSCRIPT


# -- replies, parsed ----------------------------------------------------------------------------

#: Pieces of RESP2 and RESP3, to make streams that are almost right.
RESP_PIECES = [
    b"+OK\r\n",
    b":1\r\n",
    b"$3\r\nabc\r\n",
    b"$-1\r\n",
    b"*2\r\n",
    b"*-1\r\n",
    b"-ERR x\r\n",
    b"$100\r\n",
    b"%1\r\n",
    b"~1\r\n",
    b">1\r\n",
    b",1.5\r\n",
    b"#t\r\n",
    b"_\r\n",
    b"(12\r\n",
    b"=5\r\ntxt:a\r\n",
    b"\r\n",
]

REPLIES: st.SearchStrategy[Value] = st.recursive(
    st.one_of(
        st.binary(max_size=20),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.none(),
        st.builds(Simple, st.binary(max_size=10).filter(lambda b: b"\r" not in b and b"\n" not in b)),
        st.builds(
            Error, st.binary(min_size=1, max_size=10).filter(lambda b: b"\r" not in b and b"\n" not in b)
        ),
    ),
    lambda children: st.lists(children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(replies=st.lists(REPLIES, max_size=6), sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5))
def test_the_reader_gives_the_same_replies_however_the_stream_is_split(
    replies: list[Value], sizes: list[int]
) -> None:
    stream = b"".join(encode_reply(reply) for reply in replies)
    whole = list(ReplyReader(1 << 20).feed(stream))
    reader = ReplyReader(1 << 20)
    pieces = [value for piece in splitter(sizes)(stream) for value in reader.feed(piece)]
    assert pieces == whole
    assert len(whole) == len(replies)


@SETTINGS
@given(pieces=st.lists(st.one_of(st.binary(max_size=20), st.sampled_from(RESP_PIECES)), max_size=12))
def test_the_reader_either_parses_or_says_the_stream_is_broken(pieces: list[bytes]) -> None:
    reader = ReplyReader(64)
    try:
        for piece in pieces:
            for value in reader.feed(piece):
                assert value is None or isinstance(value, bytes | int | list | ErrorReply)
    except ReplyError:
        pass


def test_the_reader_refuses_resp3_types_and_endless_replies() -> None:
    resp3 = (b"%1\r\n+a\r\n:1\r\n", b",1.5\r\n", b"#t\r\n", b">2\r\n+a\r\n+b\r\n", b"*1\r\n#f\r\n")
    for stream in resp3:
        try:
            list(ReplyReader(64).feed(stream))
        except ReplyError as exc:
            assert "not a RESP2 reply" in str(exc)
        else:
            raise AssertionError(f"{stream!r} was accepted")
    try:  # hiredis itself fails on a map keyed by an array (TypeError, not ProtocolError)
        list(ReplyReader(64).feed(b"%1\r\n*0\r\n:1\r\n"))
    except ReplyError as exc:
        assert str(exc) == "TypeError: unhashable type: 'list'"
    else:
        raise AssertionError("a map keyed by an array was accepted")
    reader = ReplyReader(64)
    try:
        list(reader.feed(b"$1000\r\n" + b"x" * 100))
    except ReplyError as exc:
        assert str(exc) == "a reply longer than 64 bytes"
    else:
        raise AssertionError("an endless reply was buffered")


# -- nothing raises, and the link heals ------------------------------------------------------

GARBAGE = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"+OK\r\n",
            b"+PONG\r\n",
            b":1\r\n",
            b"$-1\r\n",
            b"-ERR x\r\n",
            b"-NOSCRIPT gone\r\n",
            b"*3\r\n$7\r\nmessage\r\n$6\r\nroom:a\r\n$1\r\nx\r\n",
            b"*3\r\n$7\r\nmessage\r\n$12\r\n" + ECHO + b"\r\n$1\r\n9\r\n",
            b"*3\r\n$7\r\nmessage\r\n$12\r\n" + ECHO + b"\r\n$2\r\nno\r\n",
            b"*3\r\n$7\r\nmessage\r\n:1\r\n:2\r\n",
            b"*3\r\n$9\r\nsubscribe\r\n$6\r\nroom:a\r\n:1\r\n",
            b"*3\r\n$11\r\nunsubscribe\r\n$6\r\nroom:b\r\n:0\r\n",
            b"*2\r\n$4\r\npong\r\n$0\r\n\r\n",
            b"$100000\r\n",
            b"*1\r\n",
            b"%1\r\n",
            b"\r\n",
        ]
    ),
)
ROLES = st.sampled_from([Role.CMD, Role.SUB])
CHANNELS = st.sampled_from([b"room:a", b"room:b", b"room:c"])
OPERATIONS = st.one_of(
    st.tuples(st.just("garbage"), ROLES, GARBAGE),
    st.tuples(st.just("drop"), ROLES),
    st.tuples(st.just("stall"), ROLES),
    st.tuples(st.just("restart")),
    st.tuples(st.just("refuse"), st.booleans()),
    st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=3.0)),
    st.tuples(st.just("call")),
    st.tuples(st.just("script")),
    st.tuples(st.just("flush scripts")),
    st.tuples(st.just("publish")),
    st.tuples(st.just("subscribe"), CHANNELS),
    st.tuples(st.just("unsubscribe"), CHANNELS),
)


@SETTINGS
@given(operations=st.lists(OPERATIONS, max_size=25), pump_first=st.booleans())
def test_nothing_raises_and_the_link_heals(operations: list[tuple[object, ...]], pump_first: bool) -> None:
    h = make_harness()
    if pump_first:
        h.pump()
    requests: list[int] = []
    wanted: set[bytes] = set()
    for operation in operations:
        apply(h, operation, requests, wanted)
    h.redis.accepting = True
    h.redis.keeps_scripts = True
    for client in h.redis.clients:
        client.stalled = False
    h.advance(HEAL_SECONDS)
    assert h.link.state is LinkState.UP, h.logs
    last = h.link.call("PING")
    h.pump()
    requests.append(last)
    answered = [event.request for event in h.events if isinstance(event, Reply | RequestFailed)]
    assert answered == requests  # each exactly once, in request order
    assert Reply(request=last, value=b"PONG") in h.events
    assert h.client(Role.SUB).channels == wanted | {ECHO}
    for channel in wanted:  # the last word on each wanted channel is Subscribed
        last_word = [e for e in h.events if isinstance(e, Subscribed | Unsubscribed) and e.channel == channel]
        assert last_word and isinstance(last_word[-1], Subscribed), (channel, last_word)


def apply(h: LinkHarness, operation: tuple[object, ...], requests: list[int], wanted: set[bytes]) -> None:
    link = h.link
    match operation:
        case ("garbage", Role() as role, bytes() as data):
            if h.sockets[role] is not None:
                h.feed(role, data)
        case ("drop", Role() as role):
            if h.sockets[role] is not None:
                h.drop(role)
        case ("stall", Role() as role):
            if h.sockets[role] is not None:
                h.client(role).stalled = True
        case ("restart",):
            h.restart_redis()
        case ("refuse", bool() as refusing):
            h.redis.accepting = not refusing
        case ("advance", float() as seconds):
            h.advance(seconds)
        case ("call",):
            requests.append(link.call("SET", "k", "v"))
        case ("script",):
            requests.append(link.run_script(GREET, args=["x"]))
        case ("flush scripts",):
            h.redis.scripts.clear()
        case ("publish",):
            link.publish(b"room:a", b"x")
        case ("subscribe", bytes() as channel):
            link.subscribe(channel)
            wanted.add(channel)
        case ("unsubscribe", bytes() as channel):
            link.unsubscribe(channel)
            wanted.discard(channel)
        case _:
            raise AssertionError(operation)
    h.pump()


# -- reconnect delays ---------------------------------------------------------------------------


@SETTINGS
@given(
    attempt=st.integers(min_value=0, max_value=10**6),
    jitter=st.floats(min_value=-1.0, max_value=2.0),
    low=st.floats(min_value=0.001, max_value=5.0),
    extra=st.floats(min_value=0.0, max_value=60.0),
)
def test_reconnect_delays_stay_within_their_bounds(
    attempt: int, jitter: float, low: float, extra: float
) -> None:
    high = low + extra
    delay = reconnect_delay(attempt, jitter, low, high)
    assert low <= delay <= high
    assert reconnect_delay(attempt + 1, jitter, low, high) >= delay  # never shorter for a later attempt
