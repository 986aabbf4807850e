"""The chat across nodes with a real Redis: the bridge, the scripts and the cores together.

The stories of the fake broker's tests (``tests/core/test_cluster.py``), run
for real, so that the fake stays honest: cross-node messages and private
messages, WHO, KILL, nickname races, a node that dies or stops cleanly, a
node paused past the reaper, Redis restarted empty or from a stale snapshot.
Timers are short (``FAST_LINK``), and every wait has a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from adapters.cluster import LinkEvent, Message
from adapters.cluster.bridge import DEAD_AFTER, REAP_EVERY
from tests.core_driver import OPER_PASSWORD, Client

from .chat_nodes import ChatCluster, ChatNode
from .redis_server import RedisServer

LOST = "[server] Lost contact with the other servers: only users on this server can hear you"
RESTORED = "[server] Contact with the other servers restored"
MAY_HAVE_LOST = "[server] Some messages from or to other servers may have been lost"


@pytest.fixture
def cluster(redis_server: RedisServer) -> Iterator[ChatCluster]:
    chat = ChatCluster(redis_server)
    yield chat
    chat.close()


@pytest.fixture
def own_cluster(own_redis: RedisServer) -> Iterator[ChatCluster]:
    chat = ChatCluster(own_redis)
    yield chat
    chat.close()


def named(cluster: ChatCluster, node: ChatNode, nick: str) -> Client:
    """A client of ``node`` renamed ``nick``, its lines so far read."""
    client = node.client()
    client.send(f"NICK {nick}")
    cluster.sees(client, f"[server] You are now known as {nick}")
    return client


def alice_and_bob(cluster: ChatCluster) -> tuple[Client, Client]:
    """Two nodes that joined (``cluster.nodes``), alice a user of the first, bob of the second."""
    cluster.add(), cluster.add()
    cluster.joined()
    return alice_and_bob_of(cluster)


def alice_and_bob_of(cluster: ChatCluster) -> tuple[Client, Client]:
    """Alice a user of the cluster's first node, bob of its second."""
    one, two = cluster.nodes[:2]
    return named(cluster, one, "alice"), named(cluster, two, "bob")


def who(cluster: ChatCluster, client: Client, *nicks: str) -> None:
    """Ask WHO until it lists exactly ``nicks`` (in any order: after an outage, nodes agree on who
    is there, not on the order they came back in); the cluster may still be settling."""
    seen: list[str] = []
    expected = sorted(nicks)

    def answered() -> bool:
        if not seen or seen[-1] != "?":
            client.send("WHO")
            seen.append("?")
        for line in client.lines():
            if line.startswith("[server] Users"):
                seen[-1] = line
        return seen[-1] != "?" and sorted(seen[-1].split(": ", 1)[1].split()) == expected

    try:
        cluster.until(answered)
    except AssertionError:
        raise AssertionError(f"WHO never listed {expected}; the answers: {seen[-3:]}") from None


def test_users_of_two_nodes_talk_through_redis(cluster: ChatCluster) -> None:
    alice, bob = alice_and_bob(cluster)
    alice.send("MSG hello")
    alice.send("ME waves")
    alice.send("TELL bob psst")
    assert cluster.sees(bob, "[alice -> bob] psst")[-3:] == [
        "[alice] hello",
        "* alice waves",
        "[alice -> bob] psst",
    ]
    bob.send("JOIN #dev")
    bob.send("TELL alice come to dev")
    cluster.sees(alice, "[bob -> alice] come to dev")
    alice.send("JOIN #dev")
    alice.send("MSG here")
    assert cluster.sees(bob, "[alice] here")[-2:] == ["[server] alice joined #dev", "[alice] here"]
    who(cluster, bob, "@bob", "alice")


def test_lines_read_together_cross_as_one_message_and_keep_their_order(cluster: ChatCluster) -> None:
    one, two = cluster.add(), cluster.add()
    cluster.joined()
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    heard: list[bytes] = []  # the room messages node two reads from Redis
    take_events = two.link.take_events

    def spy() -> list[LinkEvent]:
        events = take_events()
        heard.extend(
            event.data for event in events if isinstance(event, Message) and b"room" in event.channel
        )
        return events

    two.link.take_events = spy  # type: ignore[method-assign]
    alice.send_bytes(b"MSG one\nMSG two\nTELL bob psst\nMSG three\n")
    lines = cluster.sees(bob, "[alice] three")[-4:]
    assert lines == ["[alice] one", "[alice] two", "[alice -> bob] psst", "[alice] three"]
    assert [data.count(b"\n") + 1 for data in heard] == [2, 1]  # one, two: one message; then three


def test_nickname_races_across_nodes_have_exactly_one_winner(cluster: ChatCluster) -> None:
    one, two = cluster.add(), cluster.add()
    cluster.joined()
    left, right = one.client(), two.client()
    for round_ in range(30):
        nick = f"racer{round_}"
        left.send(f"NICK {nick}")
        right.send(f"NICK {nick.upper()}")
        lines: list[str] = []

        def both_answered(lines: list[str] = lines) -> bool:
            lines += left.lines() + right.lines()
            answers = [line for line in lines if "You are now known as" in line or "already in use" in line]
            return len(answers) == 2

        cluster.until(both_answered)
        won = [line for line in lines if line.lower().startswith("[server] you are now known as racer")]
        lost = [line for line in lines if line.endswith("is already in use")]
        assert len(won) == 1 and len(lost) == 1, lines


def test_an_operator_kills_a_user_of_another_node(cluster: ChatCluster) -> None:
    alice, bob = alice_and_bob(cluster)
    alice.send(f"OPER {OPER_PASSWORD}")
    alice.send("KILL bob enough")
    assert cluster.sees(bob, "[server] You have been killed by alice")[-2:] == [
        "[alice] enough",
        "[server] You have been killed by alice",
    ]
    cluster.until(lambda: bob.closed)
    cluster.sees(alice, "[server] bob is disconnected (killed by alice)")
    alice.send("NICK bob")
    cluster.sees(alice, "[server] You are now known as bob")


def test_a_dead_nodes_users_leave_everywhere_within_the_reapers_bound(cluster: ChatCluster) -> None:
    one, two = cluster.add(), cluster.add()
    cluster.joined()
    alice = named(cluster, one, "alice")
    named(cluster, two, "bob")
    cluster.driver.kill(two)
    died = time.monotonic()
    cluster.sees(alice, "[server] bob is disconnected (server down)", timeout=DEAD_AFTER + 3)
    assert time.monotonic() - died <= DEAD_AFTER + REAP_EVERY + 1.5  # within 6 s
    alice.send("NICK bob")
    cluster.sees(alice, "[server] You are now known as bob")


def test_a_node_restarted_under_its_id_before_the_reaper_came_has_its_old_users_leave_everywhere(
    cluster: ChatCluster,
) -> None:
    """A crashed node started again at once (a supervisor): the reaper never sees the id silent, and
    the new process (a new number) bursts nobody: the old process's users must leave all the same."""
    one, two = cluster.add(), cluster.add()
    cluster.joined()
    alice = named(cluster, one, "alice")
    named(cluster, two, "bob")
    cluster.driver.kill(two)
    again = cluster.add(3, node_id="node2")
    cluster.until(lambda: again.joined)
    cluster.sees(alice, "[server] bob is disconnected (server down)", timeout=DEAD_AFTER + 3)
    who(cluster, alice, "alice")
    bob = named(cluster, again, "bob")  # the nickname is free, and bob here is the new one
    alice.send("TELL bob hi")
    cluster.sees(bob, "[alice -> bob] hi")


def test_a_node_that_stops_cleanly_releases_its_users_at_once(cluster: ChatCluster) -> None:
    one, two = cluster.add(), cluster.add()
    cluster.joined()
    alice = named(cluster, one, "alice")
    named(cluster, two, "bob")
    two.bridge.stop(cluster.driver.now())
    two.sync()
    cluster.sees(alice, "[server] bob is disconnected (server down)", timeout=1.0)


def test_a_node_paused_past_the_reaper_comes_back_renamed_if_its_nickname_was_taken(
    cluster: ChatCluster,
) -> None:
    alice, bob = alice_and_bob(cluster)
    two = cluster.nodes[1]
    cluster.driver.freeze(two)
    cluster.sees(alice, "[server] bob is disconnected (server down)", timeout=DEAD_AFTER + 3)
    alice.send("NICK bob")
    cluster.sees(alice, "[server] You are now known as bob")
    cluster.driver.thaw(two)
    seen = cluster.sees(bob, MAY_HAVE_LOST, timeout=10)
    assert "[server] Your nickname bob was taken while this server was cut off" in seen
    renamed = next(line for line in seen if "You are now known as guest" in line).rsplit(" ", 1)[1]
    who(cluster, alice, "bob", renamed)
    who(cluster, bob, "bob", renamed)


@pytest.mark.parametrize("stale", [False, True], ids=["empty", "stale-snapshot"])
def test_redis_restarted_the_nodes_fill_it_again_and_agree(
    own_cluster: ChatCluster, own_redis: RedisServer, stale: bool
) -> None:
    cluster = own_cluster
    alice, bob = alice_and_bob(cluster)
    two = cluster.nodes[1]
    if stale:
        carol = named(cluster, two, "carol")
        own_redis.save_snapshot()  # carol is in it
        carol.send("QUIT")
        cluster.sees(alice, "[server] carol is disconnected")
    own_redis.kill()
    cluster.sees(alice, LOST)  # after the grace period: a blip would not be worth a notice
    own_redis.restart(from_snapshot=stale)
    cluster.sees(alice, RESTORED)
    cluster.sees(bob, RESTORED)
    who(cluster, alice, "alice", "bob")
    who(cluster, bob, "alice", "bob")
    alice.send("MSG after the restart")
    cluster.sees(bob, "[alice] after the restart")
    with own_redis.client() as client:
        users = client.call("HKEYS", "sc:0:users")
    assert isinstance(users, list)
    assert sorted(user for user in users if isinstance(user, bytes)) == [b"alice", b"bob"]


def test_after_the_link_breaks_newcomers_and_joins_of_rooms_followed_before_go_through(
    cluster: ChatCluster,
) -> None:
    """The link subscribes again to every room before it is up: the bridge need not hear it twice."""
    alice, bob = alice_and_bob(cluster)
    one = cluster.nodes[0]
    for user in (alice, bob):
        user.send("JOIN #dev")
        cluster.sees(user, "[server] You are now in #dev")
    with cluster.server.client() as redis:
        assert redis.call("CLIENT", "KILL", "TYPE", "pubsub") == 2  # both nodes' subscriptions
    cluster.sees(alice, MAY_HAVE_LOST)
    cluster.sees(bob, MAY_HAVE_LOST)
    newcomer = one.client()  # a guest, in #lobby, which its node followed before the break
    heard: list[str] = []

    def welcomed() -> bool:
        heard.extend(newcomer.lines())
        return bool(heard)

    cluster.until(welcomed)
    guest = heard[0].removeprefix("[server] Welcome to the chat, ").split("!", 1)[0]
    newcomer.send("JOIN #dev")  # a room its node followed before the break
    cluster.sees(newcomer, "[server] You are now in #dev")
    cluster.sees(bob, f"[server] {guest} joined #dev")


def test_a_node_that_redis_is_too_full_to_register_joins_once_redis_has_room(
    own_cluster: ChatCluster,
) -> None:
    """Redis refuses every script that writes while its memory is full (``maxmemory``): the node
    keeps trying, and joins once the operator makes room, without a break of the link."""
    cluster = own_cluster
    with cluster.server.client() as redis:
        redis.call("CONFIG", "SET", "maxmemory", "1")
        one = cluster.add()
        early = one.client()
        cluster.until(lambda: any("Redis refused register" in warning for warning in one.warnings()))
        assert not one.joined
        cluster.sees(early, LOST)  # its words reach nobody elsewhere: it is told, as at a loss
        redis.call("CONFIG", "SET", "maxmemory", "0")
    cluster.add()
    cluster.joined()
    cluster.sees(early, RESTORED)
    assert not any("connection" in warning for warning in one.warnings())  # (the link never broke)
    alice, bob = alice_and_bob_of(cluster)
    alice.send("MSG hello")
    cluster.sees(bob, "[alice] hello")
