"""The Redis link against a real redis-server, driven by the reference selectors driver.

The same link as in the sans-IO tests, now over TCP: set-up, pub/sub between
two nodes, scripts after ``SCRIPT FLUSH``, and the failures the cluster must
survive: Redis restarted, down for longer than the grace period, paused
(connected but deaf), and a subscriber cut off by Redis' output-buffer limit.
Timers are shortened so that each failure takes a fraction of a second.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from adapters.cluster import (
    LinkConfig,
    LinkDown,
    LinkInterrupted,
    LinkState,
    LinkUp,
    Message,
    RedisAddress,
    Reply,
    RequestFailed,
    Role,
    Script,
    Subscribed,
)

from .driver import Node, SelectorsDriver
from .redis_server import RedisServer

FAST = LinkConfig(
    heartbeat_interval=0.2,
    reply_timeout=0.8,
    connect_timeout=0.5,
    grace=0.5,
    reconnect_min=0.05,
    reconnect_max=0.2,
)
ECHO_BACK = Script(name="echo_back", source="return ARGV")


@pytest.fixture
def driver() -> Iterator[SelectorsDriver]:
    d = SelectorsDriver()
    yield d
    d.close()


def up(driver: SelectorsDriver, *nodes: Node) -> None:
    driver.run_until(lambda: all(node.link.state is LinkState.UP for node in nodes))


def ask(driver: SelectorsDriver, node: Node, request: int) -> Reply:
    """Wait for the reply to ``request``."""
    node.sync()

    def answered() -> Reply | None:
        return next((e for e in node.events if isinstance(e, Reply) and e.request == request), None)

    driver.run_until(lambda: answered() is not None)
    reply = answered()
    assert reply is not None
    return reply


def count(node: Node, kind: type) -> int:
    return sum(isinstance(event, kind) for event in node.events)


def subscribe(driver: SelectorsDriver, node: Node, channel: bytes) -> None:
    """Subscribe and wait for Redis to confirm it."""
    confirmed = count(node, Subscribed)
    node.link.subscribe(channel)
    node.sync()
    driver.run_until(lambda: count(node, Subscribed) == confirmed + 1)


def test_the_link_sets_up_its_connections_as_the_url_says(
    redis_server: RedisServer, driver: SelectorsDriver
) -> None:
    address = RedisAddress(host="127.0.0.1", port=redis_server.port, db=3)
    node = driver.add(address, "n1", scripts=[ECHO_BACK])
    up(driver, node)
    (event,) = node.events
    assert isinstance(event, LinkUp) and len(event.run_id) == 40 and not event.redis_restarted
    assert ask(driver, node, node.link.call("SET", "k", "in db 3")).value == b"OK"
    with redis_server.client(db=3) as db3, redis_server.client() as db0:
        assert db3.call("GET", "k") == b"in db 3"
        assert db0.call("GET", "k") is None
        clients = db0.call("CLIENT", "LIST")
        assert isinstance(clients, bytes)
        assert b"name=n1:cmd " in clients and b"name=n1:sub " in clients
        assert db0.call("SCRIPT", "EXISTS", ECHO_BACK.sha) == [1]
    reply = ask(driver, node, node.link.run_script(ECHO_BACK, args=["a", b"\r\n"]))
    assert reply.value == [b"a", b"\r\n"]


def test_messages_between_two_nodes_arrive_in_publish_order(
    redis_server: RedisServer, driver: SelectorsDriver
) -> None:
    alice = driver.add(redis_server.address, "alice", config=FAST)
    bob = driver.add(redis_server.address, "bob", config=FAST, seed=1)
    up(driver, alice, bob)
    subscribe(driver, alice, b"room:games")
    payloads = [b"%d" % n + b"\r\n*1\r\n" * (n % 3) for n in range(500)]
    for payload in payloads:
        assert bob.link.publish(b"room:games", payload)
    bob.sync()
    driver.run_until(lambda: count(alice, Message) == len(payloads))
    assert [e.data for e in alice.events if isinstance(e, Message)] == payloads
    driver.run_until(lambda: alice.link.lag is not None and bob.link.lag is not None)
    lag = alice.link.lag
    assert lag is not None and 0 < lag < FAST.reply_timeout


def test_scripts_lost_by_redis_are_loaded_again_and_replies_keep_their_order(
    redis_server: RedisServer, driver: SelectorsDriver
) -> None:
    node = driver.add(redis_server.address, "n1", scripts=[ECHO_BACK])
    up(driver, node)
    with redis_server.client() as client:
        assert client.call("SCRIPT", "FLUSH") == b"OK"
        assert client.call("SET", "k", "v") == b"OK"
    first = node.link.run_script(ECHO_BACK, args=["1"])
    middle = node.link.call("GET", "k")
    last = node.link.run_script(ECHO_BACK, args=["2"])
    ask(driver, node, last)
    replies = [e for e in node.events if isinstance(e, Reply)]
    assert replies == [
        Reply(request=first, value=[b"1"]),
        Reply(request=middle, value=b"v"),
        Reply(request=last, value=[b"2"]),
    ]
    assert any("Redis had lost script echo_back" in message for _, message in node.logs)


def test_after_a_redis_restart_the_link_resubscribes_and_says_redis_restarted(
    own_redis: RedisServer, driver: SelectorsDriver
) -> None:
    listener = driver.add(own_redis.address, "listener", config=FAST)
    talker = driver.add(own_redis.address, "talker", config=FAST, seed=1)
    up(driver, listener, talker)
    subscribe(driver, listener, b"room:a")
    (before,) = listener.events_of(LinkUp)
    own_redis.restart()
    driver.run_until(lambda: count(listener, LinkUp) == 2 and count(talker, LinkUp) == 2)
    assert len(listener.events_of(LinkInterrupted)) == 1
    back = listener.events_of(LinkUp)[-1]
    assert back.redis_restarted and back.run_id != before.run_id
    assert count(listener, Subscribed) == 1  # resubscribed silently: LinkUp says it
    talker.link.publish(b"room:a", b"after the restart")
    talker.sync()
    driver.run_until(lambda: count(listener, Message) == 1)


def test_a_redis_down_longer_than_the_grace_period_is_reported_down_then_up(
    own_redis: RedisServer, driver: SelectorsDriver
) -> None:
    node = driver.add(own_redis.address, "n1", config=FAST)
    up(driver, node)
    own_redis.kill()
    driver.run_until(lambda: count(node, LinkDown) == 1)
    assert node.link.state is LinkState.DOWN
    request = node.link.call("GET", "k")
    node.sync()
    (refused,) = node.events_of(RequestFailed)
    assert refused.request == request and not refused.sent
    own_redis.restart()
    driver.run_until(lambda: count(node, LinkUp) == 2)
    back = node.events_of(LinkUp)[-1]
    assert back.redis_restarted and back.was_down


def test_a_link_started_before_redis_comes_up_when_redis_does(
    own_redis: RedisServer, driver: SelectorsDriver
) -> None:
    own_redis.kill()
    node = driver.add(own_redis.address, "n1", config=FAST)
    driver.run_until(lambda: count(node, LinkDown) == 1)
    (down,) = node.events_of(LinkDown)
    assert down.reason.startswith(f"cannot connect to redis://127.0.0.1:{own_redis.port}/0: ")
    own_redis.restart()
    driver.run_until(lambda: node.link.state is LinkState.UP)
    (back,) = node.events_of(LinkUp)
    assert not back.redis_restarted and back.was_down


def test_a_paused_redis_is_noticed_by_its_silence_and_welcomed_back(
    own_redis: RedisServer, driver: SelectorsDriver
) -> None:
    """Connected but deaf: SIGSTOP keeps the sockets open, nothing answers."""
    node = driver.add(own_redis.address, "n1", config=FAST)
    up(driver, node)
    os.kill(own_redis.pid, signal.SIGSTOP)
    try:
        driver.run_until(lambda: count(node, LinkDown) == 1)
        (interrupted,) = node.events_of(LinkInterrupted)
        assert interrupted.reason.endswith("within 0.8 s")
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)
    driver.run_until(lambda: node.link.state is LinkState.UP)
    back = node.events_of(LinkUp)[-1]
    assert not back.redis_restarted and back.was_down


def test_a_subscriber_too_slow_for_redis_is_cut_off_and_comes_back(
    own_redis: RedisServer, driver: SelectorsDriver
) -> None:
    """A node that stops reading its subscription is closed by Redis' output-buffer limit."""
    node = driver.add(own_redis.address, "slow", config=LinkConfig(reply_timeout=30.0))
    up(driver, node)
    subscribe(driver, node, b"room:flood")
    with own_redis.client() as client:
        assert client.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 128kb 1") == b"OK"
        chunk = b"x" * 16384
        for _ in range(1024):  # 16 MiB while the node's loop does not run: more than any socket buffer
            client.call("PUBLISH", b"room:flood", chunk)
    driver.run_until(lambda: count(node, LinkUp) == 2)
    (cut,) = node.events_of(LinkInterrupted)
    assert cut == LinkInterrupted(role=Role.SUB, reason="connection closed by Redis")
    assert count(node, Message) < 1024
    assert "client-output-buffer-limit" in own_redis.log or "scheduled to be closed" in own_redis.log
