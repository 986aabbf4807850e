"""The bridge when Redis misbehaves: refusals, replies that come too late, breaks, bad messages.

What a real redis-server can be made to do is tested against one
(``test_chat_redis.py``).  These tests drive a ``ClusterBridge`` whose link
runs against the in-memory ``FakeRedis``, its scripts answered as each test
says (``ScriptedRedis``), with a fake clock: the cases a real Redis gives
only by chance of timing (a connection breaking between two replies), or
never (a message that cannot be read), each step exact.  What they check is
the bridge's promise to the core: one answer for every share, the join
retried whenever it cannot go on, nothing from a node fenced since.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.cluster import LinkState, RedisAddress, Role
from adapters.cluster.bridge import REJOIN_AFTER, STOP_WAIT, ClusterBridge, Phase
from adapters.cluster.codec import Codec
from adapters.cluster.scripts import SCRIPTS
from sansio_chat import (
    Burst,
    BurstAnswered,
    ClusterChanged,
    ClusterStatus,
    Event,
    FactsArrived,
    FollowRoom,
    GuestsLeased,
    Hello,
    LeaseGuests,
    LogLevel,
    NodeDown,
    Share,
    ShareFailed,
    ShareRefusal,
    UnfollowRoom,
)

from .fake_redis import MAX_ROUNDS, Error, FakeClient, FakeRedis, LinkHarness, Multi, Value

ADDRESS = RedisAddress(host="redis.test", port=6379)
ALL = b"sc:0:all"
ROOM = b"sc:0:room:#dev"
#: The snapshot the fake gives by default: the last event it includes, and the nodes' epochs.
SNAPSHOT_SEQ = 5
OTHER = "n2"  # another node, at epoch 3
FULL = Error(b"OOM command not allowed when used memory > 'maxmemory'. script: 1, on @user_script:6.")

Answer = Value | Callable[[list[bytes]], Value]


class ScriptedRedis(FakeRedis):
    """The fake, answering each cluster script by its name (by default as Redis does when all is well)."""

    def __init__(self) -> None:
        super().__init__()
        self._names = {script.script.sha: script.name for script in SCRIPTS}
        self.answers: dict[str, Answer] = {
            "register": [b"OK", 7, SNAPSHOT_SEQ],
            "snapshot": [b"OK", SNAPSHOT_SEQ, [], [b"n1", 7, OTHER.encode(), 3]],
            "beat": [b"OK", 1000],
            "reap": [b"OK"],
            "lease": [b"OK", 1, 100],
            "burst": [b"OK", SNAPSHOT_SEQ + 1],
            "release_all": [b"OK", SNAPSHOT_SEQ + 1],
        }
        self.ran: list[tuple[str, list[bytes]]] = []

    def execute(self, client: FakeClient, command: list[bytes]) -> Value | Multi:
        if command[0].upper() == b"EVALSHA" and command[1] in self.scripts:
            name, argv = self._names[command[1]], command[3:]
            self.ran.append((name, argv))
            answer = self.answers.get(name, [b"OK", SNAPSHOT_SEQ + 1])
            return answer(argv) if callable(answer) else answer
        return super().execute(client, command)

    def names_ran(self) -> list[str]:
        return [name for name, _ in self.ran]


class BridgeHarness:
    """A bridge, its link on the fake through a ``LinkHarness``, a fake clock, the core's events."""

    def __init__(self, redis: ScriptedRedis | None = None) -> None:
        self.redis = redis or ScriptedRedis()
        self.bridge = ClusterBridge(ADDRESS, node_id="n1", node_number=1, now=0.0, jitter=lambda: 0.5)
        self.h = LinkHarness(self.bridge.link, self.redis)
        self.events: list[Event] = []

    @property
    def now(self) -> float:
        return self.h.now

    def pump(self) -> list[Event]:
        """Carry out the link's actions, deliver the fake's replies, poll the bridge, until quiet."""
        start = len(self.events)
        for _ in range(MAX_ROUNDS):
            moved = self.h._carry_out(self.bridge.link.take_actions())
            for role, client in self.h.sockets.items():
                if client is not None and client.output and not client.stalled:
                    data = bytes(client.output)
                    client.output.clear()
                    self.bridge.link.data_received(role, data, now=self.now)
                    moved = True
            events = self.bridge.poll(self.now)
            self.events += events
            if not moved and not events:
                return self.events[start:]
        raise AssertionError("the bridge never went quiet")

    def advance(self, seconds: float) -> list[Event]:
        """Move the clock, ticking the bridge at every wake-up on the way."""
        start = len(self.events)
        target = self.now + seconds
        self.pump()
        for _ in range(MAX_ROUNDS):
            wakeup = self.bridge.next_wakeup
            if wakeup is None or wakeup > target:
                break
            self.h.now = max(self.now, wakeup)
            self.events += self.bridge.tick(self.now)
            self.pump()
        else:
            raise AssertionError("the bridge kept asking for ticks")
        self.h.now = target
        self.events += self.bridge.tick(self.now)
        self.pump()
        return self.events[start:]

    def act(self, *actions: Share | FollowRoom | UnfollowRoom | LeaseGuests | Burst) -> list[Event]:
        for action in actions:
            self.bridge.act(action)
        return self.pump()

    def cut(self, role: Role) -> None:
        """The socket of ``role`` breaks; the bridge has not heard yet."""
        client = self.h.client(role)
        self.redis.drop(client)
        self.h.sockets[role] = None
        self.bridge.link.connection_lost(role, "connection reset by peer", now=self.now)

    def drop(self, role: Role) -> list[Event]:
        self.cut(role)
        return self.pump()

    def cmd(self) -> FakeClient:
        return self.h.client(Role.CMD)

    def publish(self, channel: bytes, data: bytes) -> list[Event]:
        self.redis.publish(channel, data)
        return self.pump()

    def phase(self) -> Phase:
        return self.bridge.phase

    def warnings(self) -> list[str]:
        return [message for level, message in self.bridge.logs if level >= LogLevel.WARNING]


def joined() -> BridgeHarness:
    b = BridgeHarness()
    events = b.pump()
    assert b.phase() is Phase.JOINED
    assert events == [ClusterChanged(status=ClusterStatus.JOINING)]
    return b


def share(ticket: int, **where: Any) -> Share:
    return Share(ticket=ticket, item=Hello(node=1, round=ticket), **where)


def failed(events: list[Event]) -> dict[int, ShareRefusal]:
    return {event.ticket: event.why for event in events if isinstance(event, ShareFailed)}


def arrived(events: list[Event]) -> list[tuple[object, int]]:
    return [arrival for event in events if isinstance(event, FactsArrived) for arrival in event.arrivals]


# -- joining, and Redis refusing it ---------------------------------------------------------


@pytest.mark.parametrize("step", ["register", "snapshot"])
def test_a_join_redis_refuses_is_tried_again_until_it_goes_through(step: str) -> None:
    redis = ScriptedRedis()
    answer = redis.answers[step]
    redis.answers[step] = FULL
    b = BridgeHarness(redis)
    events = b.pump()
    assert b.phase() is Phase.WAITING
    assert ClusterChanged(status=ClusterStatus.INTERRUPTED) in events
    assert any("Redis refused " + step in warning and "OOM" in warning for warning in b.warnings())
    assert b.advance(REJOIN_AFTER / 2) == []  # (not at once: a Redis that is full stays full a while)
    redis.answers[step] = answer
    assert b.advance(REJOIN_AFTER / 2) == [ClusterChanged(status=ClusterStatus.JOINING)]
    assert b.phase() is Phase.JOINED


INTERRUPTED = ClusterChanged(status=ClusterStatus.INTERRUPTED)
JOINING = ClusterChanged(status=ClusterStatus.JOINING)


def test_a_join_refused_then_a_break_of_the_link_waits_for_the_link_to_rejoin() -> None:
    redis = ScriptedRedis()
    answer = redis.answers["register"]
    redis.answers["register"] = FULL
    b = BridgeHarness(redis)
    assert b.pump() == [INTERRUPTED]
    redis.answers["register"] = answer
    warned = len(b.warnings())
    assert b.drop(Role.SUB) == [INTERRUPTED]  # (said again; the core takes it as it is)
    assert len(b.warnings()) == warned  # the node was not joined: nothing more to tell the operator
    assert b.advance(REJOIN_AFTER / 2) == [JOINING]  # the link back, after its reconnect delay
    assert redis.names_ran().count("register") == 2


DOWN = ClusterChanged(status=ClusterStatus.DOWN)


def refused_from_the_start() -> tuple[BridgeHarness, Answer]:
    """A bridge whose first ``register`` Redis refuses (it is full), and the answer it gives when well."""
    redis = ScriptedRedis()
    answer = redis.answers["register"]
    redis.answers["register"] = FULL
    b = BridgeHarness(redis)
    assert b.pump() == [INTERRUPTED]
    return b, answer


def test_a_join_redis_keeps_refusing_is_told_to_the_users_as_a_lost_link_once() -> None:
    """The link stays up, so it never says it is down: past its grace the bridge says so, once a refusal."""
    b, answer = refused_from_the_start()
    redis, grace = b.redis, b.bridge.link.config.grace
    assert DOWN not in b.advance(grace - 0.01)
    assert b.advance(0.01).count(DOWN) == 1
    assert DOWN not in b.advance(3 * grace)  # refused all along: told once
    redis.answers["register"] = answer
    assert b.advance(REJOIN_AFTER) == [JOINING]
    assert b.act(Burst(users=())) == [BurstAnswered(refused=())]  # joined: the core says it is back
    redis.answers["burst"] = FULL
    assert b.act(Burst(users=())) == [INTERRUPTED]  # refused again, after a join that went through
    assert b.advance(grace).count(DOWN) == 1


def test_a_join_refused_for_less_than_the_grace_is_not_told_as_a_lost_link() -> None:
    b, answer = refused_from_the_start()
    redis, grace = b.redis, b.bridge.link.config.grace
    redis.answers["register"] = answer
    assert b.advance(REJOIN_AFTER) == [JOINING]
    assert b.act(Burst(users=())) == [BurstAnswered(refused=())]
    assert DOWN not in b.advance(2 * grace)


@pytest.mark.parametrize(
    ("step", "action"),
    [("burst", Burst(users=(((1 << 32) + 1, "alice", "alice"),))), ("lease", LeaseGuests(count=100))],
)
def test_a_burst_or_lease_redis_refuses_interrupts_the_join_and_the_node_joins_again(
    step: str, action: Burst | LeaseGuests
) -> None:
    """The core waits for their answers before it says hello: it must hear something."""
    b = joined()
    redis = b.redis
    answer = redis.answers[step]
    redis.answers[step] = FULL
    assert b.act(action) == [INTERRUPTED]
    redis.answers[step] = answer
    assert b.advance(REJOIN_AFTER) == [JOINING]
    assert b.act(action) in ([BurstAnswered(refused=())], [GuestsLeased(first=1, last=100)])


def test_a_burst_and_a_lease_asked_after_the_join_broke_again_wait_for_the_next_join() -> None:
    """The core acts on ``JOINING`` after the bridge moved on (a gap among the events that came as
    it joined): what it asks then is not sent; the next ``JOINING`` asks again."""
    redis = ScriptedRedis()
    b = BridgeHarness(redis)
    snapshot, register = redis.answers["snapshot"], redis.answers["register"]

    def gap_then_snapshot(argv: list[bytes]) -> Value:
        redis.publish(ALL, b"%d\tUP\tn3\t9" % (SNAPSHOT_SEQ + 2))  # 6 missed
        redis.answers["snapshot"] = snapshot
        redis.answers["register"] = stalled_register
        return snapshot if not callable(snapshot) else None

    def stalled_register(argv: list[bytes]) -> Value:
        b.cmd().stalled = True
        redis.answers["register"] = register
        return register if not callable(register) else None

    redis.answers["snapshot"] = gap_then_snapshot
    assert b.pump() == [JOINING, INTERRUPTED]
    assert any("directory events 6 to 6 were missed" in warning for warning in b.warnings())
    assert b.phase() is Phase.REGISTERING
    b.act(LeaseGuests(count=10), Burst(users=()))
    b.cmd().stalled = False
    assert b.pump() == [JOINING]
    assert "lease" not in redis.names_ran() and "burst" not in redis.names_ran()


@pytest.mark.parametrize("step", ["register", "snapshot"])
def test_answers_to_a_join_that_a_break_made_void_are_ignored(step: str) -> None:
    """The subscription breaks while ``register`` or ``snapshot`` is on its way: a new join starts
    when the link is back, and the old one's answer changes nothing."""
    redis = ScriptedRedis()
    b = BridgeHarness(redis)
    answer = redis.answers[step]

    def stall(argv: list[bytes]) -> Value:
        b.cmd().stalled = True
        redis.answers[step] = answer
        return answer if not callable(answer) else None

    redis.answers[step] = stall
    assert b.pump() == []
    assert b.drop(Role.SUB) == [INTERRUPTED]
    b.cmd().stalled = False
    assert b.advance(1.0) == [JOINING]  # the subscription is back (after its reconnect delay)
    assert redis.names_ran().count("register") == 2
    assert b.phase() is Phase.JOINED


# -- shares ------------------------------------------------------------------------------------


def test_a_share_while_the_node_is_not_joined_fails_at_once_not_sent() -> None:
    b = BridgeHarness()
    b.bridge.act(share(1))  # (before the link is up)
    assert b.bridge.poll(b.now) == [ShareFailed(ticket=1, why=ShareRefusal.NOT_SENT)]


@pytest.mark.parametrize(
    ("script", "where", "answer", "why"),
    [
        ("claim", {"take": "alice"}, [b"TAKEN"], ShareRefusal.TAKEN),
        ("claim", {"take": "alice", "free": "al"}, [b"GONE"], ShareRefusal.TAKEN),  # (old not its own)
        ("kill", {"evict": "bob"}, [b"NO_SUCH"], ShareRefusal.NO_SUCH),
        ("release", {"free": "carol"}, [b"GONE"], ShareRefusal.NOT_SENT),  # (gone already)
        ("share", {}, FULL, ShareRefusal.NOT_SENT),
    ],
)
def test_a_scripts_refusal_is_told_to_its_share(
    script: str, where: dict[str, str], answer: Value, why: ShareRefusal
) -> None:
    b = joined()
    b.redis.answers[script] = answer
    assert b.act(share(1, **where)) == [ShareFailed(ticket=1, why=why)]
    assert b.phase() is Phase.JOINED
    assert bool(b.warnings()) is (answer is FULL)  # an error reply is logged; a refusal is an answer


def test_a_refused_beat_or_reap_is_logged_and_tried_again_at_its_time() -> None:
    b = joined()
    b.redis.answers["beat"] = b.redis.answers["reap"] = FULL
    b.advance(1.0)
    assert any("Redis refused beat" in warning for warning in b.warnings())
    assert any("Redis refused reap" in warning for warning in b.warnings())
    assert b.phase() is Phase.JOINED
    b.advance(1.0)
    assert b.redis.names_ran().count("beat") == 2


def test_a_share_fenced_fails_not_sent_and_the_node_registers_again() -> None:
    b = joined()
    b.redis.answers["claim"] = [b"FENCED"]
    events = b.act(share(1, take="alice"))
    assert events == [ShareFailed(ticket=1, why=ShareRefusal.NOT_SENT), INTERRUPTED, JOINING]
    assert any("declared dead" in warning for warning in b.warnings())


@pytest.mark.parametrize("answer", [[b"TAKEN"], [b"FENCED"], [b"OK", 6]])
def test_shares_on_their_way_when_the_subscription_breaks_are_answered_once(answer: Value) -> None:
    """Words published (their echo not back), a claim whose answer comes after the break, a join
    waiting for its room: each fails once, whatever Redis answers later."""
    b = joined()
    b.act(FollowRoom(room="#dev"))
    b.h.client(Role.SUB).stalled = True  # Redis hears, the node does not
    b.cmd().stalled = True
    b.redis.answers["claim"] = answer
    events = b.act(FollowRoom(room="#new"), share(1, room="#dev"), share(2, take="alice"))
    events += b.act(share(3, room="#new", follow="#new"))
    assert events == []
    events = b.drop(Role.SUB)
    assert failed(events) == {
        1: ShareRefusal.MAYBE_SENT,
        2: ShareRefusal.MAYBE_SENT,
        3: ShareRefusal.NOT_SENT,
    }
    assert events[-1] == INTERRUPTED
    b.cmd().stalled = False
    b.advance(1.0)
    assert [event for event in b.events if isinstance(event, ShareFailed) and event.ticket == 2] == [
        ShareFailed(ticket=2, why=ShareRefusal.MAYBE_SENT)
    ]
    assert b.phase() is Phase.JOINED


def test_a_claim_in_flight_when_the_command_connection_breaks_fails_maybe_sent() -> None:
    b = joined()
    b.cmd().stalled = True
    b.act(share(1, take="alice"))
    events = b.drop(Role.CMD)
    assert failed(events) == {1: ShareRefusal.MAYBE_SENT}
    assert INTERRUPTED in events


def test_shares_the_link_cannot_send_fail_at_once_not_sent() -> None:
    """The command connection broke and the bridge has not heard yet: nothing can go out."""
    b = joined()
    b.cut(Role.CMD)
    b.bridge.act(share(1, room="#dev"))
    b.bridge.act(share(2, users=((2 << 32) + 1,)))
    b.bridge.act(share(3, take="alice"))  # (its request fails at once too, but after the break's news)
    events = b.pump()
    assert failed(events) == {1: ShareRefusal.NOT_SENT, 2: ShareRefusal.NOT_SENT, 3: ShareRefusal.MAYBE_SENT}
    assert INTERRUPTED in events


def test_a_join_waiting_for_its_room_fails_if_the_room_is_unfollowed_first() -> None:
    b = joined()
    b.h.client(Role.SUB).stalled = True  # the subscription is not confirmed yet
    events = b.act(FollowRoom(room="#dev"), share(1, room="#dev", follow="#dev"), UnfollowRoom(room="#dev"))
    assert events == [ShareFailed(ticket=1, why=ShareRefusal.NOT_SENT)]


# -- what comes on the channels -------------------------------------------------------------------


def test_messages_of_a_node_fenced_since_and_unreadable_ones_are_dropped() -> None:
    b = joined()
    codec = Codec()
    b.act(FollowRoom(room="#dev"))
    hello = Hello(node=2, round=1)
    events = b.publish(ROOM, codec.message(OTHER, 3, 0, hello))
    assert arrived(events) == [(hello, 0)]
    assert b.publish(ROOM, codec.message(OTHER, 2, 0, hello)) == []  # an older epoch of n2
    assert b.publish(ROOM, b'["n2",3,0,["Nothing"]]') == []
    assert b.publish(ROOM, b"") == []
    assert b.publish(ALL, b"not an event") == []
    warnings = b.warnings()
    assert len(warnings) == 1 and "cannot be read (1 so far)" in warnings[0]  # the first, then every 1000th


def test_a_nodes_own_message_read_the_long_way_is_its_shares_answer_once() -> None:
    """Its head written otherwise (JSON allows spaces): still this node's, by its node id."""
    b = joined()
    b.act(FollowRoom(room="#dev"))
    b.act(share(4, room="#dev"))  # (answered by the fake's echo of the publish)
    assert [ticket for _, ticket in arrived(b.events)] == [4]
    assert b.publish(ROOM, spaced(4)) == []  # answered already
    assert b.publish(ROOM, Codec().message("n1", 7, 4, Hello(node=1, round=4))) == []  # (and so)
    b.h.client(Role.SUB).stalled = True
    b.act(share(5, room="#dev"))
    b.h.client(Role.SUB).output.clear()  # its echo lost; it comes back written otherwise
    b.h.client(Role.SUB).stalled = False
    assert arrived(b.publish(ROOM, spaced(5))) == [(Hello(node=1, round=5), 5)]


def spaced(ticket: int) -> bytes:
    message = Codec().message("n1", 7, ticket, Hello(node=1, round=ticket))
    return message.replace(b'["n1",', b'[ "n1", ')


def test_directory_events_included_in_the_snapshot_change_no_epoch() -> None:
    """Events that came while syncing and that the snapshot includes: ``UP`` and ``DOWN`` are old news."""
    redis = ScriptedRedis()

    def snapshot(argv: list[bytes]) -> Value:
        redis.publish(ALL, b"%d\tUP\tn2\t2" % (SNAPSHOT_SEQ - 1))  # older than the snapshot's epoch 3
        redis.publish(ALL, b"%d\tDOWN\tn1\ttimeout" % SNAPSHOT_SEQ)  # this node's earlier life
        redis.publish(ALL, b"%d\tDOWN\tn4\ttimeout\tdave" % SNAPSHOT_SEQ)
        return [b"OK", SNAPSHOT_SEQ, [], [b"n1", 7, OTHER.encode(), 3]]

    redis.answers["snapshot"] = snapshot
    b = BridgeHarness(redis)
    events = b.pump()
    assert events == [ClusterChanged(status=ClusterStatus.JOINING), NodeDown(keys=("dave",))]
    assert b.phase() is Phase.JOINED  # its own DOWN, included, fenced nothing
    b.act(FollowRoom(room="#dev"))
    hello = Hello(node=2, round=1)
    assert arrived(b.publish(ROOM, Codec().message(OTHER, 3, 0, hello))) == [(hello, 0)]


def test_a_burst_answer_applies_the_kills_this_node_missed() -> None:
    b = joined()
    killed = Codec().message(OTHER, 3, 0, Hello(node=2, round=9))
    b.redis.answers["burst"] = [b"OK", SNAPSHOT_SEQ + 1, b"4294967298", [killed, 12]]
    events = b.act(Burst(users=()))
    assert arrived(events) == [(Hello(node=2, round=9), 0)]
    assert events[-1] == BurstAnswered(refused=((1 << 32) + 2,))


@pytest.mark.parametrize(("epochs", "known"), [(None, False), ([5, 5, b"n2", 3], True)])
def test_the_epochs_of_a_snapshot_are_read_as_far_as_they_make_sense(epochs: Value, known: bool) -> None:
    redis = ScriptedRedis()
    redis.answers["snapshot"] = [b"OK", SNAPSHOT_SEQ, [], epochs]
    b = BridgeHarness(redis)
    b.pump()
    b.act(FollowRoom(room="#dev"))
    hello = Hello(node=2, round=1)
    assert arrived(b.publish(ROOM, Codec().message(OTHER, 3, 0, hello))) == ([(hello, 0)] if known else [])


# -- stopping ---------------------------------------------------------------------------------


def test_a_stop_redis_does_not_confirm_in_time_ends_the_link_anyway() -> None:
    b = joined()
    b.cmd().stalled = True
    b.bridge.stop(b.now)
    b.bridge.stop(b.now)  # (a second signal: one release_all)
    b.advance(STOP_WAIT)
    assert b.bridge.stopped
    assert b.redis.names_ran().count("release_all") == 1
    assert any("did not confirm the release" in warning for warning in b.warnings())


@pytest.mark.parametrize("answer", [FULL, [b"FENCED"]])
def test_a_stop_redis_refuses_ends_the_link_at_once(answer: Value) -> None:
    b = joined()
    b.redis.answers["release_all"] = answer
    b.bridge.stop(b.now)
    b.pump()
    assert b.bridge.stopped


def test_a_stop_whose_connection_breaks_ends_the_link_at_once() -> None:
    b = joined()
    b.cmd().stalled = True
    b.bridge.stop(b.now)
    b.pump()
    assert b.drop(Role.CMD) == []  # (the core hears nothing more: it is stopping)
    assert b.bridge.stopped


def test_a_node_not_joined_stops_at_once() -> None:
    b = BridgeHarness()
    b.redis.accepting = False
    b.pump()
    b.bridge.stop(0.0)
    b.pump()
    assert b.bridge.stopped and b.redis.ran == []


def test_a_stopping_node_whose_subscription_comes_back_does_not_register_again() -> None:
    b = joined()
    b.cmd().stalled = True  # release_all unanswered
    b.bridge.stop(b.now)
    b.pump()
    events = b.drop(Role.SUB) + b.advance(STOP_WAIT / 2)  # back within the stop's wait
    assert events == []
    assert b.bridge.link.state is LinkState.UP
    assert b.redis.names_ran().count("register") == 1
