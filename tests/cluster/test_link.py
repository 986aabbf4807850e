"""The Redis link without sockets: set-up, requests, subscriptions, health, reconnects.

Each test drives a ``RedisLink`` against the in-memory ``FakeRedis`` with a
fake clock (``LinkHarness``), so time is an input and every step is exact.
"""

from __future__ import annotations

import itertools
import random

import pytest

from adapters.cluster import (
    Connect,
    Disconnect,
    ErrorReply,
    LinkConfig,
    LinkDown,
    LinkInterrupted,
    LinkState,
    LinkUp,
    Message,
    RedisAddress,
    RedisLink,
    Reply,
    RequestFailed,
    Role,
    Script,
    Subscribed,
    Unsubscribed,
    Write,
)
from adapters.cluster._conn import MAX_JOINED_BYTES

from .fake_redis import FakeRedis, LinkHarness, sha

ECHO = b"sc:0:link:n1"
ADDRESS = RedisAddress(host="redis.test", port=6380)
GREET = Script(name="greet", source="return 'hello'")
CONFIG = LinkConfig()


def make_link(
    *,
    address: RedisAddress = ADDRESS,
    scripts: tuple[Script, ...] = (),
    config: LinkConfig = CONFIG,
    jitter: float | None = None,
) -> RedisLink:
    return RedisLink(
        address,
        client_name="sansio-chat:n1",
        echo_channel=ECHO,
        jitter=random.Random(7).random if jitter is None else (lambda: jitter),
        now=0.0,
        scripts=scripts,
        config=config,
    )


def harness(redis: FakeRedis | None = None, **kwargs: object) -> LinkHarness:
    return LinkHarness(make_link(**kwargs), redis or FakeRedis())  # type: ignore[arg-type]


@pytest.fixture
def up() -> LinkHarness:
    """A link that has come up against a healthy fake Redis."""
    h = harness()
    h.pump()
    assert h.link.state is LinkState.UP
    return h


def up_events(h: LinkHarness) -> list[LinkUp]:
    return [event for event in h.events if isinstance(event, LinkUp)]


# -- coming up ----------------------------------------------------------------------


def test_the_link_asks_for_both_connections_at_once() -> None:
    link = make_link()
    assert link.take_actions() == [
        Connect(role=Role.CMD, host="redis.test", port=6380),
        Connect(role=Role.SUB, host="redis.test", port=6380),
    ]
    assert link.state is LinkState.STARTING
    assert link.take_events() == []


def test_set_up_of_each_connection_then_link_up() -> None:
    h = harness(scripts=(GREET,))
    assert h.pump() == [LinkUp(run_id="a" * 40, redis_restarted=False, was_down=False)]
    assert h.client(Role.CMD).commands == [
        [b"CLIENT", b"SETNAME", b"sansio-chat:n1:cmd"],
        [b"INFO", b"server"],
        [b"SCRIPT", b"LOAD", b"return 'hello'"],
    ]
    assert h.client(Role.SUB).commands == [
        [b"CLIENT", b"SETNAME", b"sansio-chat:n1:sub"],
        [b"SUBSCRIBE", ECHO],
    ]
    assert h.redis.scripts == {GREET.sha: b"return 'hello'"}
    assert "link to Redis up (redis://redis.test:6380/0, run_id " + "a" * 40 + ")" in h.logs


def test_a_database_in_the_url_is_selected_first_on_the_command_connection() -> None:
    h = harness(address=RedisAddress(host="redis.test", port=6380, db=3))
    h.pump()
    assert h.client(Role.CMD).commands[0] == [b"SELECT", b"3"]
    assert h.client(Role.CMD).db == 3
    assert [b"SELECT", b"3"] not in h.client(Role.SUB).commands  # pub/sub ignores databases


def test_a_database_redis_refuses_keeps_the_link_down_and_says_why() -> None:
    h = harness(address=RedisAddress(host="redis.test", port=6380, db=99))
    h.pump()
    assert h.link.state is LinkState.STARTING
    assert "Redis cmd connection: Redis refused SELECT: ERR DB index is out of range" in h.logs
    events = h.advance(CONFIG.grace)
    assert events == [LinkDown(reason="Redis refused SELECT: ERR DB index is out of range")]


def test_the_script_digest_is_the_sha1_redis_files_it_under() -> None:
    assert GREET.sha == sha(b"return 'hello'")


def test_a_link_that_never_comes_up_is_down_after_the_grace_period() -> None:
    redis = FakeRedis()
    redis.accepting = False
    h = harness(redis)
    assert h.advance(CONFIG.grace - 0.01) == []
    assert h.advance(0.01) == [
        LinkDown(reason="cannot connect to redis://redis.test:6380/0: Connection refused")
    ]
    assert h.link.state is LinkState.DOWN
    redis.accepting = True
    events = h.advance(CONFIG.reconnect_max)
    assert events == [LinkUp(run_id="a" * 40, redis_restarted=False, was_down=True)]


def test_a_connection_attempt_that_hangs_is_abandoned_and_retried() -> None:
    redis = FakeRedis()
    redis.accepting = None
    h = harness(redis)
    h.advance(CONFIG.connect_timeout)
    assert Disconnect(role=Role.CMD) in h.actions and Disconnect(role=Role.SUB) in h.actions
    redis.accepting = True
    h.advance(CONFIG.reconnect_max)
    assert h.link.state is LinkState.UP


# -- requests -------------------------------------------------------------------------


def test_replies_are_matched_to_requests_in_order(up: LinkHarness) -> None:
    first = up.link.call("SET", "k", "v")
    second = up.link.call(b"GET", b"k")
    third = up.link.call("GET", "missing")
    fourth = up.link.call("NOSUCH")
    assert up.pump() == [
        Reply(request=first, value=b"OK"),
        Reply(request=second, value=b"v"),
        Reply(request=third, value=None),
        Reply(request=fourth, value=ErrorReply("ERR unknown command 'NOSUCH'")),
    ]
    assert fourth - first == 3


def test_pipelined_requests_go_out_in_one_write(up: LinkHarness) -> None:
    up.link.call("SET", "a", 1)
    up.link.call("SET", "b", 2)
    up.link.publish(b"ch", b"x")
    assert up.link.take_actions() == [
        Write(
            role=Role.CMD,
            data=b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"
            b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$1\r\nx\r\n",
        )
    ]


def _publish(channel: bytes, data: bytes) -> bytes:
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(data), data)


def test_lines_published_one_after_the_other_to_one_channel_go_as_one_message(up: LinkHarness) -> None:
    for line in (b"one", b"two"):
        assert up.link.publish_line(b"ch", line)
    up.link.publish_line(b"other", b"three")
    up.link.publish_line(b"ch", b"four")
    first = up.link.call("GET", "k")  # a command between lines: they are two messages
    up.link.publish_line(b"ch", b"five")
    up.link.publish(b"ch", b"six")  # a plain publish is never joined
    assert up.link.take_actions() == [
        Write(
            role=Role.CMD,
            data=_publish(b"ch", b"one\ntwo")
            + _publish(b"other", b"three")
            + _publish(b"ch", b"four")
            + b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
            + _publish(b"ch", b"five")
            + _publish(b"ch", b"six"),
        )
    ]
    # Five commands, five replies: the request in between is answered as such.
    assert up.feed(Role.CMD, b":1\r\n:1\r\n:1\r\n$-1\r\n:1\r\n:1\r\n") == [Reply(request=first, value=None)]
    up.link.take_actions()  # (handed to nobody: the replies below are written by hand)
    second = up.link.call("GET", "k")
    up.link.take_actions()
    assert up.feed(Role.CMD, b"$1\r\nv\r\n") == [Reply(request=second, value=b"v")]


def test_joined_lines_stay_under_their_bound_and_a_line_holds_no_break(up: LinkHarness) -> None:
    line = b"x" * (MAX_JOINED_BYTES * 5 // 8)
    up.link.publish_line(b"ch", line)
    up.link.publish_line(b"ch", line)  # the two would be past the bound: a message of its own
    assert up.link.take_actions() == [Write(role=Role.CMD, data=_publish(b"ch", line) * 2)]
    with pytest.raises(ValueError, match="line break"):
        up.link.publish_line(b"ch", b"a\nb")


def test_a_line_published_while_the_link_is_not_ready_is_refused() -> None:
    h = harness()
    assert h.link.publish_line(b"ch", b"x") is False


def test_a_request_before_the_link_is_ready_fails_at_once() -> None:
    h = harness()
    request = h.link.call("GET", "k")
    assert h.link.take_events() == [
        RequestFailed(request=request, reason="Redis is not reachable: not connected yet", sent=False)
    ]
    assert h.link.publish(b"ch", b"x") is False


def test_requests_in_flight_fail_when_the_command_connection_breaks(up: LinkHarness) -> None:
    up.client(Role.CMD).stalled = True
    first = up.link.call("GET", "a")
    second = up.link.run_script(GREET)
    up.pump()
    events = up.drop(Role.CMD, "connection reset by peer")
    reason = "the connection to Redis broke: connection reset by peer"
    assert events == [
        RequestFailed(request=first, reason=reason, sent=True),
        RequestFailed(request=second, reason=reason, sent=True),
        LinkInterrupted(role=Role.CMD, reason="connection reset by peer"),
    ]


def test_a_request_unanswered_for_the_reply_timeout_breaks_the_connection(up: LinkHarness) -> None:
    up.client(Role.CMD).stalled = True
    request = up.link.call("GET", "a")
    assert up.advance(CONFIG.reply_timeout - 0.01) == []
    events = up.advance(0.01)
    assert events[:2] == [
        RequestFailed(
            request=request,
            reason="the connection to Redis broke: no reply to call within 3 s",
            sent=True,
        ),
        LinkInterrupted(role=Role.CMD, reason="no reply to call within 3 s"),
    ]
    assert Disconnect(role=Role.CMD) in up.actions


def test_too_many_requests_in_flight_are_refused() -> None:
    h = harness(config=LinkConfig(max_pending=2))
    h.pump()
    h.client(Role.CMD).stalled = True
    h.link.call("GET", "a")
    h.link.call("GET", "b")
    third = h.link.call("GET", "c")
    assert h.link.publish(b"ch", b"x") is False
    assert h.pump() == []  # the refusal is reported in request order, after the first two
    broke = "the connection to Redis broke: connection reset by peer"
    assert h.drop(Role.CMD)[:3] == [
        RequestFailed(request=third - 2, reason=broke, sent=True),
        RequestFailed(request=third - 1, reason=broke, sent=True),
        RequestFailed(request=third, reason="too many requests waiting for Redis (2)", sent=False),
    ]


@pytest.mark.parametrize(
    "command",
    [("SUBSCRIBE", "x"), (b"psubscribe", b"x*"), ("MONITOR",), ("SELECT", 1), ("CLIENT", "REPLY", "OFF"), ()],
)
def test_commands_that_would_break_the_pipeline_are_refused(
    up: LinkHarness, command: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        up.link.call(*command)


def test_client_commands_other_than_reply_are_allowed(up: LinkHarness) -> None:
    request = up.link.call("CLIENT", "SETNAME", "x")
    assert up.pump() == [Reply(request=request, value=b"OK")]


def test_an_error_reply_to_a_publish_is_logged(up: LinkHarness) -> None:
    up.link.publish(b"ch", b"x")
    up.link.take_actions()  # the PUBLISH is lost on its way; Redis answers something else
    up.feed(Role.CMD, b"-OOM command not allowed\r\n")
    assert "Redis refused PUBLISH: OOM command not allowed" in up.logs
    assert up.link.state is LinkState.UP


# -- scripts --------------------------------------------------------------------------------


def test_a_script_runs_by_its_digest() -> None:
    h = harness(scripts=(GREET,))
    h.pump()
    request = h.link.run_script(GREET, keys=["k"], args=["a", 2])
    assert h.pump() == [Reply(request=request, value=[b"ran", b"return 'hello'", b"k", b"a", b"2"])]
    assert h.redis.log[-1] == [b"EVALSHA", GREET.sha, b"1", b"k", b"a", b"2"]


def test_noscript_loads_the_script_and_runs_it_again_keeping_reply_order(up: LinkHarness) -> None:
    # GREET was never loaded: the first two EVALSHA get NOSCRIPT, the GET between them does not.
    up.redis.keys[b"k"] = b"v"
    first = up.link.run_script(GREET, args=["1"])
    middle = up.link.call("GET", "k")
    last = up.link.run_script(GREET, args=["2"])
    assert up.pump() == [
        Reply(request=first, value=[b"ran", b"return 'hello'", b"1"]),
        Reply(request=middle, value=b"v"),
        Reply(request=last, value=[b"ran", b"return 'hello'", b"2"]),
    ]
    commands = [command[:2] for command in up.client(Role.CMD).commands[2:]]
    assert commands == [
        [b"EVALSHA", GREET.sha],
        [b"GET", b"k"],
        [b"EVALSHA", GREET.sha],
        [b"SCRIPT", b"LOAD"],
        [b"EVALSHA", GREET.sha],
        [b"SCRIPT", b"LOAD"],
        [b"EVALSHA", GREET.sha],
    ]
    assert "Redis had lost script greet: loading it again" in up.logs


def test_a_script_lost_again_after_its_reload_reports_noscript(up: LinkHarness) -> None:
    up.redis.keeps_scripts = False  # someone flushes the script cache all the time
    request = up.link.run_script(GREET)
    assert up.pump() == [
        Reply(request=request, value=ErrorReply("NOSCRIPT No matching script. Please use EVAL."))
    ]
    assert [command[0] for command in up.client(Role.CMD).commands[2:]] == [b"EVALSHA", b"SCRIPT", b"EVALSHA"]


def test_a_script_redis_will_not_compile_is_logged_and_its_callers_get_the_error() -> None:
    broken = Script(name="broken", source="a syntax error")
    h = harness(scripts=(broken,))
    assert h.pump() == [LinkUp(run_id="a" * 40, redis_restarted=False, was_down=False)]
    error = "ERR Error compiling script (new function): user_script:1: syntax error"
    assert f"Redis refused script broken: {error}" in h.logs
    request = h.link.run_script(broken)
    assert h.pump() == [Reply(request=request, value=ErrorReply(error))]


def test_a_wrong_digest_from_script_load_breaks_the_connection() -> None:
    h = harness(scripts=(GREET,))
    h.link.take_actions()
    h.link.connected(Role.CMD, now=0.0)
    h.link.take_actions()
    h.link.data_received(Role.CMD, b"+OK\r\n$0\r\n\r\n$3\r\nabc\r\n", now=0.0)
    assert Disconnect(role=Role.CMD) in h.link.take_actions()


# -- subscriptions ---------------------------------------------------------------------------


def test_subscribed_comes_with_the_confirmation_then_messages_flow(up: LinkHarness) -> None:
    up.link.subscribe(b"room:a")
    assert up.pump() == [Subscribed(channel=b"room:a")]
    up.redis.publish(b"room:a", b"one")
    up.redis.publish(b"room:b", b"not subscribed")
    up.redis.publish(b"room:a", b"two")
    assert up.pump() == [Message(channel=b"room:a", data=b"one"), Message(channel=b"room:a", data=b"two")]


def test_subscribing_again_confirms_again_without_a_command(up: LinkHarness) -> None:
    up.link.subscribe(b"room:a")
    up.pump()
    sent = len(up.redis.log)
    up.link.subscribe(b"room:a")
    assert up.pump() == [Subscribed(channel=b"room:a")]
    assert len(up.redis.log) == sent


def test_subscribing_twice_before_the_confirmation_confirms_once(up: LinkHarness) -> None:
    up.link.subscribe(b"room:a")
    up.link.subscribe(b"room:a")
    assert up.pump() == [Subscribed(channel=b"room:a")]


def test_unsubscribe_stops_messages_at_once_and_is_confirmed(up: LinkHarness) -> None:
    up.link.subscribe(b"room:a")
    up.pump()
    up.redis.publish(b"room:a", b"in flight")  # queued before Redis has the UNSUBSCRIBE
    up.link.unsubscribe(b"room:a")
    assert up.pump() == [Unsubscribed(channel=b"room:a")]
    assert b"room:a" not in up.client(Role.SUB).channels


def test_unsubscribing_a_channel_never_subscribed_does_nothing(up: LinkHarness) -> None:
    up.link.unsubscribe(b"room:a")
    assert up.pump() == []


def test_only_the_last_of_quick_subscribe_unsubscribe_subscribe_is_confirmed(up: LinkHarness) -> None:
    up.link.subscribe(b"room:a")
    up.link.unsubscribe(b"room:a")
    up.link.subscribe(b"room:a")
    assert up.pump() == [Subscribed(channel=b"room:a")]
    assert [command for command in up.client(Role.SUB).commands if b"room:a" in command] == [
        [b"SUBSCRIBE", b"room:a"],
        [b"UNSUBSCRIBE", b"room:a"],
        [b"SUBSCRIBE", b"room:a"],
    ]


def test_subscriptions_made_while_disconnected_are_sent_on_connect() -> None:
    h = harness()
    h.link.subscribe(b"room:a")
    h.link.subscribe(b"room:b")
    h.link.unsubscribe(b"room:b")
    assert h.link.take_events() == [Unsubscribed(channel=b"room:b")]
    events = h.pump()
    assert events == [
        Subscribed(channel=b"room:a"),
        LinkUp(run_id="a" * 40, redis_restarted=False, was_down=False),
    ]
    assert h.client(Role.SUB).commands[1] == [b"SUBSCRIBE", b"room:a", ECHO]


def test_the_echo_channel_is_the_links_own(up: LinkHarness) -> None:
    with pytest.raises(ValueError):
        up.link.subscribe(ECHO)
    with pytest.raises(ValueError):
        up.link.unsubscribe(ECHO)


def test_everything_is_resubscribed_after_a_reconnect_and_the_link_says_up_after(up: LinkHarness) -> None:
    for room in (b"room:a", b"room:b"):
        up.link.subscribe(room)
    up.pump()
    events = up.drop(Role.SUB)
    assert events == [LinkInterrupted(role=Role.SUB, reason="connection reset by peer")]
    events = up.advance(CONFIG.reconnect_max)
    assert events == [LinkUp(run_id="a" * 40, redis_restarted=False, was_down=False)]  # no Subscribed again
    assert up.client(Role.SUB).channels == {ECHO, b"room:a", b"room:b"}
    up.redis.publish(b"room:b", b"after")
    assert up.pump() == [Message(channel=b"room:b", data=b"after")]


def test_a_subscription_pending_when_the_connection_broke_is_confirmed_after_reconnect(
    up: LinkHarness,
) -> None:
    up.client(Role.SUB).stalled = True
    up.link.subscribe(b"room:a")
    up.link.subscribe(b"room:b")
    up.link.unsubscribe(b"room:b")
    up.pump()
    assert up.drop(Role.SUB) == [
        Unsubscribed(channel=b"room:b"),
        LinkInterrupted(role=Role.SUB, reason="connection reset by peer"),
    ]
    events = up.advance(CONFIG.reconnect_max)
    assert events == [
        Subscribed(channel=b"room:a"),
        LinkUp(run_id="a" * 40, redis_restarted=False, was_down=False),
    ]


def test_a_message_on_an_unsubscribed_channel_is_dropped(up: LinkHarness) -> None:
    assert up.feed(Role.SUB, b"*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n$1\r\nx\r\n") == []
    assert up.link.state is LinkState.UP


# -- replies that make no sense ------------------------------------------------------------


def stall_with_pending(h: LinkHarness, role: Role, what: str) -> None:
    """Leave ``what`` waiting for its reply on ``role``: Redis stalls, the test answers by hand."""
    h.client(role).stalled = True
    if what == "subscribe":
        h.link.subscribe(b"room:x")
    elif what == "ping":
        h.advance(CONFIG.heartbeat_interval)
    h.pump()


@pytest.mark.parametrize(
    ("role", "pending", "data", "reason"),
    [
        (Role.CMD, "", b":1\r\n", "a reply to no command"),
        (Role.SUB, "", b"+OK\r\n", "a reply to no command"),
        (Role.SUB, "", b"*3\r\n$7\r\nmessage\r\n:1\r\n:2\r\n", "a message that is not two strings"),
        (Role.SUB, "subscribe", b"-NOPERM no\r\n", "Redis refused SUBSCRIBE: NOPERM no"),
        (
            Role.SUB,
            "subscribe",
            b"*3\r\n$9\r\nsubscribe\r\n$6\r\nroom:y\r\n:1\r\n",
            "expected the confirmation of SUBSCRIBE b'room:x', got [b'subscribe', b'room:y', 1]",
        ),
        (Role.SUB, "ping", b"+OK\r\n", "expected PONG, got b'OK'"),
        (Role.CMD, "", b"?\r\n", 'ProtocolError: Protocol error, got "?" as reply type byte'),
        (Role.CMD, "", b",1.5\r\n", "not a RESP2 reply: float"),
    ],
)
def test_a_reply_that_makes_no_sense_drops_the_connection_and_the_link_reconnects(
    up: LinkHarness, role: Role, pending: str, data: bytes, reason: str
) -> None:
    stall_with_pending(up, role, pending)
    assert up.feed(role, data)[-1:] == [LinkInterrupted(role=role, reason=reason)]
    assert Disconnect(role=role) in up.actions
    for client in up.redis.clients:
        client.stalled = False
    up.advance(CONFIG.reconnect_max)
    assert up.link.state is LinkState.UP


def test_an_info_reply_without_run_id_gives_an_empty_one() -> None:
    h = harness()
    h.link.take_actions()
    h.link.connected(Role.CMD, now=0.0)
    h.link.connected(Role.SUB, now=0.0)
    h.link.take_actions()
    h.link.data_received(Role.CMD, b"+OK\r\n:0\r\n", now=0.0)  # SETNAME, then INFO as a number
    h.link.data_received(Role.SUB, b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$12\r\n" + ECHO + b"\r\n:1\r\n", now=0.0)
    assert h.link.take_events() == [LinkUp(run_id="", redis_restarted=False, was_down=False)]


def test_a_heartbeat_that_is_not_ours_is_ignored(up: LinkHarness) -> None:
    up.client(Role.SUB).stalled = True
    up.advance(CONFIG.heartbeat_interval)  # heartbeat 1 on its way
    for data in (b"no", b"0", b"7"):  # not a number, older than any on its way, newer than all
        up.feed(Role.SUB, b"*3\r\n$7\r\nmessage\r\n$12\r\n" + ECHO + b"\r\n$%d\r\n%s\r\n" % (len(data), data))
    assert up.link.lag is None
    assert up.link.state is LinkState.UP


# -- health ---------------------------------------------------------------------------------


def test_heartbeats_measure_the_round_trip_through_redis(up: LinkHarness) -> None:
    assert up.link.lag is None
    up.advance(CONFIG.heartbeat_interval)
    assert up.client(Role.CMD).commands[-1] == [b"PUBLISH", ECHO, b"1"]
    assert up.client(Role.SUB).commands[-1] == [b"PING"]
    assert up.link.lag == 0.0


def test_a_slow_round_trip_is_logged_once_and_its_recovery_too(up: LinkHarness) -> None:
    sub = up.client(Role.SUB)
    sub.stalled = True
    up.advance(CONFIG.heartbeat_interval + 0.6)  # the heartbeat waits 0.6 s on its way back
    sub.stalled = False
    up.pump()
    assert up.link.lag == pytest.approx(0.6)
    up.advance(CONFIG.heartbeat_interval)
    up.advance(CONFIG.heartbeat_interval)
    assert up.link.lag == 0.0
    slow = [line for line in up.logs if "round trip" in line]
    assert slow == ["Redis round trip is slow: 600 ms", "Redis round trip is back to 0 ms"]


def test_a_deaf_subscription_is_noticed_by_its_missing_heartbeats(up: LinkHarness) -> None:
    # The socket looks fine and PING is answered, but no message arrives any more.
    up.redis.publish = lambda channel, data: 0  # type: ignore[method-assign]
    events = up.advance(CONFIG.heartbeat_interval + CONFIG.reply_timeout)
    assert events == [LinkInterrupted(role=Role.SUB, reason="heartbeat not received within 3 s")]
    assert Disconnect(role=Role.SUB) in up.actions


def test_a_silent_subscription_connection_is_noticed_by_its_unanswered_ping(up: LinkHarness) -> None:
    up.client(Role.SUB).stalled = True
    events = up.advance(CONFIG.heartbeat_interval + CONFIG.reply_timeout)
    assert events == [LinkInterrupted(role=Role.SUB, reason="no reply to PING within 3 s")]


def test_a_short_break_heals_without_link_down(up: LinkHarness) -> None:
    assert up.drop(Role.CMD) == [LinkInterrupted(role=Role.CMD, reason="connection reset by peer")]
    assert up.link.state is LinkState.INTERRUPTED
    events = up.advance(CONFIG.grace)
    assert events == [LinkUp(run_id="a" * 40, redis_restarted=False, was_down=False)]


def test_a_long_outage_is_down_after_the_grace_period_then_up_with_restart_noticed(up: LinkHarness) -> None:
    up.link.subscribe(b"room:a")
    up.pump()
    up.redis.accepting = False
    events = up.restart_redis()
    assert events == [LinkInterrupted(role=Role.CMD, reason="connection closed by Redis")]
    assert up.advance(CONFIG.grace - 0.01) == []
    assert up.advance(0.01) == [
        LinkDown(reason="cannot connect to redis://redis.test:6380/0: Connection refused")
    ]
    up.redis.accepting = True
    events = up.advance(CONFIG.reconnect_max)
    assert events == [LinkUp(run_id="0" * 39 + "1", redis_restarted=True, was_down=True)]
    assert b"room:a" in up.client(Role.SUB).channels


@pytest.mark.parametrize(
    ("jitter", "delays"),
    [
        (0.0, [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]),  # the lower half of each range
        (0.9999, [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]),  # the upper end, capped at 2 s
    ],
)
def test_reconnect_delays_double_up_to_the_ceiling_then_start_over_once_ready(
    jitter: float, delays: list[float]
) -> None:
    redis = FakeRedis()
    redis.accepting = False
    h = harness(redis, jitter=jitter)
    h.advance(sum(delays) + 0.01)
    assert _gaps(h.connect_times[Role.CMD]) == pytest.approx(delays, abs=0.001)
    redis.accepting = True
    h.advance(CONFIG.reconnect_max)
    assert h.link.state is LinkState.UP
    h.drop(Role.CMD)
    start = h.now
    h.advance(CONFIG.reconnect_max)
    assert h.connect_times[Role.CMD][-1] - start == pytest.approx(delays[0], abs=0.001)


def _gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# -- stopping ----------------------------------------------------------------------------------


def test_stop_closes_both_connections_and_fails_what_is_pending(up: LinkHarness) -> None:
    up.client(Role.CMD).stalled = True
    request = up.link.call("GET", "a")
    up.pump()
    up.link.stop()
    assert up.link.take_actions() == [Disconnect(role=Role.CMD), Disconnect(role=Role.SUB)]
    assert up.link.take_events() == [RequestFailed(request=request, reason="the link was stopped", sent=True)]
    assert up.link.next_wakeup is None
    later = up.link.call("GET", "b")
    up.link.subscribe(b"room")
    up.link.unsubscribe(b"room")
    up.link.stop()
    up.link.tick(now=100.0)
    assert up.link.take_events() == [RequestFailed(request=later, reason="the link was stopped", sent=False)]
    assert up.link.take_actions() == []


def test_stop_while_reconnecting_has_nothing_to_close(up: LinkHarness) -> None:
    up.drop(Role.SUB)
    up.link.stop()
    assert up.link.take_actions() == [Disconnect(role=Role.CMD)]


def test_reports_about_sockets_the_link_already_dropped_are_ignored(up: LinkHarness) -> None:
    up.link.stop()
    up.link.take_actions()
    up.link.data_received(Role.CMD, b"+OK\r\n", now=1.0)
    up.link.connection_lost(Role.SUB, "late", now=1.0)
    up.link.connected(Role.CMD, now=1.0)
    up.link.connect_failed(Role.CMD, "late", now=1.0)
    assert up.link.take_actions() == [] and up.link.take_events() == []


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"heartbeat_interval": 0},
        {"reply_timeout": -1},
        {"grace": -1},
        {"reconnect_min": 1.0, "reconnect_max": 0.5},
        {"max_pending": 0},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LinkConfig(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "has space", "new\nline", "é"])
def test_a_client_name_redis_would_refuse_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        RedisLink(ADDRESS, client_name=name, echo_channel=ECHO, jitter=lambda: 0.0, now=0.0)
