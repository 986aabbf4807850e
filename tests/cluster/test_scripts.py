"""The cluster's Lua scripts, run by a real redis-server.

Each script is checked for what it changes, what it announces on the
``all`` channel, and what it refuses: a stale epoch (fencing), a nickname
held by someone else, a user who is gone.  The claim race runs through two
links (two nodes) pipelining claims for the same nicknames at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.cluster import ErrorReply, LinkState, Reply, RespValue, parse_redis_url
from adapters.cluster.names import ClusterNames, check_node_id
from adapters.cluster.scripts import (
    BEAT,
    BURST,
    CLAIM,
    KILL,
    KILLS_KEPT_MS,
    LEASE,
    REAP,
    REGISTER,
    RELEASE,
    RELEASE_ALL,
    SCRIPTS,
    SHARE,
    SNAPSHOT,
    ClusterScript,
)

from .driver import Node, SelectorsDriver
from .redis_server import RedisClient, RedisServer

NAMES = ClusterNames(prefix="sc:0:")


class Cluster:
    """Scripts run on one connection; directory events read on another."""

    def __init__(self, server: RedisServer) -> None:
        self.client = server.client()
        for cluster_script in SCRIPTS:
            assert (
                self.client.call("SCRIPT", "LOAD", cluster_script.script.source) == cluster_script.script.sha
            )
        self.listener = server.client()
        assert self.listener.call("SUBSCRIBE", NAMES.all_channel) == [b"subscribe", NAMES.all_channel, 1]

    def run(self, script: ClusterScript, *rest: bytes | str | int, **values: bytes | str | int) -> RespValue:
        return self.client.call("EVALSHA", script.script.sha, 0, *script.args(NAMES, *rest, **values))

    def ok(
        self, script: ClusterScript, *rest: bytes | str | int, **values: bytes | str | int
    ) -> list[RespValue]:
        """Run a script that must succeed; its results after ``OK``."""
        reply = self.run(script, *rest, **values)
        assert isinstance(reply, list) and reply[0] == b"OK", reply
        return reply[1:]

    def register(self, node: str) -> str:
        """Register ``node``; its new epoch (the UP event is left for the test to read)."""
        return str(self.ok(REGISTER, node=node, fresh=0)[0])

    def get(self, key: str) -> RespValue:
        return self.client.call("GET", NAMES.key(key))

    def redis_ms(self) -> int:
        """Redis' clock, in milliseconds."""
        reply = self.client.call("TIME")
        assert isinstance(reply, list)
        seconds, micros = reply
        assert isinstance(seconds, bytes) and isinstance(micros, bytes)
        return int(seconds) * 1000 + int(micros) // 1000

    def event(self) -> list[str]:
        """The next directory event, as its tab-separated fields."""
        message = self.listener.read()
        assert isinstance(message, list) and message[:2] == [b"message", NAMES.all_channel], message
        data = message[2]
        assert isinstance(data, bytes)
        return data.decode().split("\t")

    def users(self) -> dict[bytes, bytes]:
        flat = self.client.call("HGETALL", NAMES.key("USERS"))
        assert isinstance(flat, list)
        users: dict[bytes, bytes] = {}
        for key, value in zip(flat[::2], flat[1::2], strict=True):
            assert isinstance(key, bytes) and isinstance(value, bytes)
            users[key] = value
        return users

    def index(self, node: str) -> set[bytes]:
        members = self.client.call("SMEMBERS", NAMES.index(node))
        assert isinstance(members, list)
        assert all(isinstance(member, bytes) for member in members)
        return {member for member in members if isinstance(member, bytes)}

    def close(self) -> None:
        self.client.close()
        self.listener.close()


def claim(cluster: Cluster, **values: bytes | str | int) -> RespValue:
    """Run ``claim`` with no fact to announce with it (the chat's payload is its business)."""
    return cluster.run(CLAIM, **{"payload": "", **values})


@pytest.fixture
def cluster(redis_server: RedisServer) -> Iterator[Cluster]:
    c = Cluster(redis_server)
    yield c
    c.close()


@pytest.fixture
def epochs(cluster: Cluster) -> dict[str, str]:
    """Nodes a and b, registered (events 1 and 2)."""
    registered = {"a": cluster.register("a"), "b": cluster.register("b")}
    assert [cluster.event(), cluster.event()] == [
        ["1", "UP", "a", registered["a"]],
        ["2", "UP", "b", registered["b"]],
    ]
    return registered


# -- registration and heartbeats -------------------------------------------------------


def test_each_registration_gets_a_new_epoch_and_a_heartbeat_by_redis_clock(cluster: Cluster) -> None:
    first = cluster.register("a")
    second = cluster.register("b")
    assert int(second) == int(first) + 1
    score = cluster.client.call("ZSCORE", NAMES.key("NODES"), "a")
    assert isinstance(score, bytes) and abs(float(score) - cluster.redis_ms()) < 5000
    cluster.ok(BEAT, node="a", epoch=first)


def test_a_node_that_registers_again_fences_its_older_self(cluster: Cluster) -> None:
    old = cluster.register("a")
    new = cluster.register("a")
    assert cluster.run(BEAT, node="a", epoch=old) == [b"FENCED"]
    assert claim(cluster, node="a", epoch=old, conn=1, fold="bob", nick="Bob", old="") == [b"FENCED"]
    assert cluster.users() == {}
    cluster.ok(BEAT, node="a", epoch=new)


def test_a_new_process_under_a_live_id_drops_what_the_earlier_one_left_announced(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    """b crashed and was started again before the reaper came: its first registration says so."""
    claim_users(cluster, "b", epochs["b"], ["bob", "ben"])
    assert cluster.ok(REGISTER, node="b", fresh=1)[1:] == [6]  # (the new epoch first; UP is event 6)
    fields = cluster.event()
    assert fields[:4] == ["5", "DOWN", "b", "restart"] and sorted(fields[4:]) == ["ben", "bob"]
    assert cluster.event()[:3] == ["6", "UP", "b"]
    assert cluster.users() == {} and cluster.index("b") == set()


def test_a_first_registration_under_a_new_or_dropped_id_announces_no_departure(cluster: Cluster) -> None:
    epoch = cluster.ok(REGISTER, node="a", fresh=1)[0]
    assert isinstance(epoch, int) and cluster.event()[:3] == ["1", "UP", "a"]
    cluster.ok(RELEASE_ALL, node="a", epoch=epoch, reason="shutdown")
    assert cluster.event()[:3] == ["2", "DOWN", "a"]
    cluster.ok(REGISTER, node="a", fresh=1)
    assert cluster.event()[:3] == ["3", "UP", "a"]


@pytest.mark.parametrize(
    ("script", "values"),
    [
        (BEAT, {}),
        (CLAIM, {"conn": 1, "fold": "x", "nick": "x", "old": "", "payload": ""}),
        (RELEASE, {"conn": 1, "fold": "bob", "reason": "bye"}),
        (KILL, {"fold": "bob", "killer": "op", "reason": "r"}),
        (SHARE, {"payload": "p"}),
        (RELEASE_ALL, {"reason": "shutdown"}),
        (LEASE, {"count": 64}),
        (BURST, {}),
    ],
    ids=lambda v: v.name if isinstance(v, ClusterScript) else "",
)
def test_every_change_from_a_stale_epoch_is_refused_and_changes_nothing(
    cluster: Cluster, epochs: dict[str, str], script: ClusterScript, values: dict[str, str | int]
) -> None:
    cluster.ok(CLAIM, node="b", epoch=epochs["b"], conn=1, fold="bob", nick="Bob", old="", payload="")
    stale = str(int(epochs["a"]) - 1)
    assert cluster.run(script, node="a", epoch=stale, **values) == [b"FENCED"]
    assert cluster.users() == {b"bob": b"b\t1\tBob"}
    assert (cluster.get("SEQ"), cluster.get("GUESTS")) == (b"3", None)
    cluster.ok(RELEASE_ALL, node="b", epoch=epochs["b"], reason="x")  # a reaped node is fenced too
    assert cluster.run(script, node="b", epoch=epochs["b"], **values) == [b"FENCED"]
    assert cluster.users() == {}
    assert (cluster.get("SEQ"), cluster.get("GUESTS")) == (b"4", None)


# -- nicknames --------------------------------------------------------------------------


def test_a_claim_takes_a_free_nickname_and_announces_it(cluster: Cluster, epochs: dict[str, str]) -> None:
    reply = cluster.run(
        CLAIM, node="a", epoch=epochs["a"], conn=7, fold="bob", nick="Bob", old="", payload=""
    )
    assert reply == [b"OK", 3]
    assert cluster.event() == ["3", "NICK", "a", "7", "bob", "Bob", "", ""]
    assert cluster.users() == {b"bob": b"a\t7\tBob"}
    assert cluster.index("a") == {b"bob"}


def test_a_nickname_held_by_another_connection_is_taken(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim(cluster, node="a", epoch=epochs["a"], conn=7, fold="bob", nick="Bob", old="")
    assert cluster.run(
        CLAIM, node="b", epoch=epochs["b"], conn=7, fold="bob", nick="BOB", old="", payload=""
    ) == [b"TAKEN"]
    assert cluster.run(
        CLAIM, node="a", epoch=epochs["a"], conn=8, fold="bob", nick="bob", old="", payload=""
    ) == [b"TAKEN"]
    assert cluster.users() == {b"bob": b"a\t7\tBob"}


def test_a_user_may_change_the_case_of_its_own_nickname(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim(cluster, node="a", epoch=epochs["a"], conn=7, fold="bob", nick="Bob", old="")
    cluster.event()
    assert cluster.run(
        CLAIM, node="a", epoch=epochs["a"], conn=7, fold="bob", nick="BOB", old="bob", payload=""
    ) == [
        b"OK",
        4,
    ]
    assert cluster.event() == ["4", "NICK", "a", "7", "bob", "BOB", "bob", ""]
    assert cluster.users() == {b"bob": b"a\t7\tBOB"}


def test_a_rename_frees_the_old_nickname_in_the_same_step(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim(cluster, node="a", epoch=epochs["a"], conn=7, fold="guest1", nick="guest1", old="")
    cluster.event()
    cluster.ok(CLAIM, node="a", epoch=epochs["a"], conn=7, fold="bob", nick="Bob", old="guest1", payload="")
    assert cluster.event() == ["4", "NICK", "a", "7", "bob", "Bob", "guest1", ""]
    assert cluster.users() == {b"bob": b"a\t7\tBob"}
    assert cluster.index("a") == {b"bob"}


def test_a_rename_for_a_user_no_longer_in_the_directory_is_refused(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    claim(cluster, node="a", epoch=epochs["a"], conn=7, fold="guest1", nick="guest1", old="")
    cluster.run(KILL, node="b", epoch=epochs["b"], fold="guest1", killer="op", reason="")
    assert cluster.run(
        CLAIM, node="a", epoch=epochs["a"], conn=7, fold="bob", nick="Bob", old="guest1", payload=""
    ) == [b"GONE"]
    assert cluster.users() == {}


def test_release_frees_a_nickname_only_for_its_holder(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim(cluster, node="a", epoch=epochs["a"], conn=7, fold="bob", nick="Bob", old="")
    cluster.event()
    assert cluster.run(RELEASE, node="a", epoch=epochs["a"], conn=8, fold="bob", reason="x") == [b"GONE"]
    assert cluster.run(RELEASE, node="b", epoch=epochs["b"], conn=7, fold="bob", reason="x") == [b"GONE"]
    assert cluster.run(RELEASE, node="a", epoch=epochs["a"], conn=7, fold="bob", reason="Quit: see\tyou") == [
        b"OK",
        4,
    ]
    assert cluster.event() == [
        "4",
        "QUIT",
        "a",
        "7",
        "bob",
        "Quit: see",
        "you",
    ]  # the reason is the last field
    assert cluster.users() == {} and cluster.index("a") == set()


def test_kill_removes_a_user_of_any_node(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim(cluster, node="b", epoch=epochs["b"], conn=3, fold="bob", nick="Bob", old="")
    cluster.event()
    assert cluster.run(KILL, node="a", epoch=epochs["a"], fold="bob", killer="Op", reason="spam") == [
        b"OK",
        4,
        b"b",
        b"3",
    ]
    assert cluster.event() == ["4", "KILL", "b", "3", "bob", "Op", "spam"]
    assert cluster.users() == {} and cluster.index("b") == set()
    assert cluster.run(KILL, node="a", epoch=epochs["a"], fold="bob", killer="Op", reason="") == [b"NO_SUCH"]


def test_a_burst_does_not_take_back_a_user_killed_while_its_node_did_not_listen(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    claim_users(cluster, "b", epochs["b"], ["bob", "ben"])
    assert cluster.ok(KILL, node="a", epoch=epochs["a"], fold="bob", killer="Op", reason="spam")
    cluster.event()
    new_epoch = cluster.register("b")  # b missed the KILL event: it rejoins with bob
    cluster.event()
    reply = cluster.run(BURST, 1, "bob", "bob", 2, "ben", "ben", node="b", epoch=new_epoch)
    assert reply == [b"OK", 7, [b"spam"]]  # the kill's payload, for b to apply
    assert cluster.event() == ["7", "SYNC", "b", "2", "ben", "ben"]
    assert cluster.users() == {b"ben": b"b\t2\tben"}
    again = cluster.run(BURST, 2, "ben", "ben", node="b", epoch=new_epoch)
    assert again == [b"OK", 8]  # told once: the burst forgets the node's kills


def test_a_node_reaped_while_it_did_not_listen_still_learns_its_users_kills(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    """A node cut off past the reaper comes back and bursts its users: the kill must not be forgotten."""
    claim_users(cluster, "b", epochs["b"], ["bob", "ben"])
    assert cluster.ok(KILL, node="a", epoch=epochs["a"], fold="bob", killer="Op", reason="spam")
    cluster.event()
    cluster.client.call("ZADD", NAMES.key("NODES"), cluster.redis_ms() - 6000, "b")  # silent 6 s
    assert cluster.run(REAP, dead_after_ms=5000, limit=16) == [b"OK", b"b"]
    cluster.event()
    kept = cluster.client.call("PTTL", NAMES.kills("b"))
    assert isinstance(kept, int) and 0 < kept <= KILLS_KEPT_MS  # kept a while, not forever
    new_epoch = cluster.register("b")  # b was fenced: it registers again and bursts bob and ben
    cluster.event()
    reply = cluster.run(BURST, 1, "bob", "bob", 2, "ben", "ben", node="b", epoch=new_epoch)
    assert reply == [b"OK", 8, [b"spam"]]  # bob is not taken back: b applies the kill
    assert cluster.users() == {b"ben": b"b\t2\tben"}


def test_a_node_that_stops_cleanly_leaves_no_kills_behind(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim_users(cluster, "b", epochs["b"], ["bob"])
    assert cluster.ok(KILL, node="a", epoch=epochs["a"], fold="bob", killer="Op", reason="spam")
    assert cluster.ok(RELEASE_ALL, node="b", epoch=epochs["b"], reason="shutdown")
    assert cluster.client.call("EXISTS", NAMES.kills("b")) == 0


def test_guest_number_leases_never_overlap(cluster: Cluster, epochs: dict[str, str]) -> None:
    blocks = [cluster.run(LEASE, node=node, epoch=epochs[node], count=64) for node in ("a", "b", "a")]
    assert blocks == [[b"OK", 1, 64], [b"OK", 65, 128], [b"OK", 129, 192]]


# -- node death -----------------------------------------------------------------------------


def claim_users(cluster: Cluster, node: str, epoch: str, folds: list[str]) -> None:
    for conn, fold in enumerate(folds, start=1):
        cluster.ok(CLAIM, node=node, epoch=epoch, conn=conn, fold=fold, nick=fold, old="", payload="")
        cluster.event()


def test_release_all_drops_a_node_and_its_users_in_one_announcement(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    claim_users(cluster, "a", epochs["a"], ["ann", "bob"])
    claim_users(cluster, "b", epochs["b"], ["cid"])
    assert cluster.run(RELEASE_ALL, node="a", epoch=epochs["a"], reason="shutdown") == [b"OK", 6]
    fields = cluster.event()
    assert fields[:4] == ["6", "DOWN", "a", "shutdown"] and sorted(fields[4:]) == ["ann", "bob"]
    assert cluster.users() == {b"cid": b"b\t1\tcid"}
    assert cluster.index("a") == set()
    assert cluster.client.call("HGET", NAMES.key("EPOCHS"), "a") is None
    assert cluster.client.call("ZSCORE", NAMES.key("NODES"), "a") is None


def test_reap_drops_silent_nodes_once_and_leaves_live_ones(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim_users(cluster, "a", epochs["a"], ["ann", "bob"])
    claim_users(cluster, "b", epochs["b"], ["cid"])
    silent_since = cluster.redis_ms() - 6000
    cluster.client.call("ZADD", NAMES.key("NODES"), silent_since, "a")  # a's last beat: 6 s ago
    assert cluster.run(REAP, dead_after_ms=5000, limit=16) == [b"OK", b"a"]
    fields = cluster.event()
    assert fields[:4] == ["6", "DOWN", "a", "timeout"] and sorted(fields[4:]) == ["ann", "bob"]
    assert cluster.run(REAP, dead_after_ms=5000, limit=16) == [b"OK"]  # idempotent: nothing left to reap
    assert cluster.users() == {b"cid": b"b\t1\tcid"}
    assert cluster.run(BEAT, node="a", epoch=epochs["a"]) == [b"FENCED"]  # a paused node comes back fenced
    cluster.ok(BEAT, node="b", epoch=epochs["b"])
    assert cluster.get("SEQ") == b"6"  # the second reap announced nothing


def test_reap_takes_at_most_its_limit_per_call(cluster: Cluster) -> None:
    for node in ("a", "b", "c"):
        cluster.register(node)
        cluster.client.call("ZADD", NAMES.key("NODES"), 1, node)  # silent since 1970
    assert cluster.run(REAP, dead_after_ms=5000, limit=2) == [b"OK", b"a", b"b"]
    assert cluster.run(REAP, dead_after_ms=5000, limit=2) == [b"OK", b"c"]


# -- burst and snapshot -----------------------------------------------------------------------


def test_burst_makes_the_directory_hold_exactly_the_nodes_users(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    claim_users(cluster, "a", epochs["a"], ["ann", "old"])  # "old" left while Redis was away
    claim_users(cluster, "b", epochs["b"], ["bob"])  # bob was taken meanwhile on b
    new_epoch = cluster.register("a")
    assert cluster.event() == ["6", "UP", "a", new_epoch]
    reply = cluster.run(
        BURST, 1, "ann", "Ann", 5, "bob", "Bob", 6, "dee", "dee", 7, "dee", "DEE", node="a", epoch=new_epoch
    )
    assert reply == [b"OK", 7, b"5", b"7"]  # bob (held by b) and the second dee are refused
    assert cluster.event() == ["7", "SYNC", "a", "1", "ann", "Ann", "6", "dee", "dee"]
    assert cluster.users() == {b"ann": b"a\t1\tAnn", b"dee": b"a\t6\tdee", b"bob": b"b\t1\tbob"}
    assert cluster.index("a") == {b"ann", b"dee"}


def test_an_empty_burst_drops_what_a_restarted_node_left(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim_users(cluster, "a", epochs["a"], ["ann"])
    assert cluster.run(BURST, node="a", epoch=cluster.register("a")) == [b"OK", 5]
    assert cluster.event()[1] == "UP"
    assert cluster.event() == ["5", "SYNC", "a"]
    assert cluster.users() == {} and cluster.index("a") == set()


def restarted_from_a_snapshot_where_b_holds_carol(own_redis: RedisServer) -> Cluster:
    """Saved while b's user held carol (since: b's user is carla, a's took carol); restarted from the save."""
    before = Cluster(own_redis)
    claim_users(before, "b", before.register("b"), ["carol"])
    own_redis.save_snapshot()
    before.close()
    own_redis.restart(from_snapshot=True)
    return Cluster(own_redis)


def test_a_burst_takes_a_nickname_that_only_a_stale_snapshot_gives_to_another_node(
    own_redis: RedisServer,
) -> None:
    cluster = restarted_from_a_snapshot_where_b_holds_carol(own_redis)
    try:
        epoch_a = cluster.register("a")  # b has not registered with this Redis process yet
        reply = cluster.run(BURST, 7, "carol", "carol", node="a", epoch=epoch_a)
        assert isinstance(reply, list) and reply[0] == b"OK" and len(reply) == 2, reply  # none refused
        assert cluster.users() == {b"carol": b"a\t7\tcarol"}
        assert cluster.index("b") == set()
        epoch_b = cluster.register("b")
        cluster.ok(BURST, 1, "carla", "carla", node="b", epoch=epoch_b)  # what b's user is now
        assert cluster.users() == {b"carol": b"a\t7\tcarol", b"carla": b"b\t1\tcarla"}
        # b burst in this Redis process: its entries hold against a later burst.
        again = cluster.run(BURST, 7, "carla", "carla", node="a", epoch=cluster.register("a"))
        assert isinstance(again, list) and again[2:] == [b"7"], again
    finally:
        cluster.close()


def test_a_node_registered_but_not_yet_burst_holds_only_the_stale_snapshots_leftovers(
    own_redis: RedisServer,
) -> None:
    """The race of a restart from a snapshot: b registers, a bursts before b does."""
    cluster = restarted_from_a_snapshot_where_b_holds_carol(own_redis)
    try:
        epoch_b = cluster.register("b")  # its burst (carla, no carol any more) still to come
        reply = cluster.run(BURST, 7, "carol", "carol", node="a", epoch=cluster.register("a"))
        assert isinstance(reply, list) and reply[0] == b"OK" and len(reply) == 2, reply  # none refused
        cluster.ok(BURST, 1, "carla", "carla", node="b", epoch=epoch_b)
        assert cluster.users() == {b"carol": b"a\t7\tcarol", b"carla": b"b\t1\tcarla"}
    finally:
        cluster.close()


def test_snapshot_reads_the_directory_with_the_last_event_it_includes(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    nodes = [b"a", epochs["a"].encode(), b"b", epochs["b"].encode()]
    assert cluster.run(SNAPSHOT) == [b"OK", 2, [], nodes]
    claim_users(cluster, "a", epochs["a"], ["ann"])
    assert cluster.run(SNAPSHOT) == [b"OK", 3, [b"ann", b"a\t1\tann"], nodes]


def test_a_snapshot_of_an_empty_redis_is_empty(cluster: Cluster) -> None:
    assert cluster.run(SNAPSHOT) == [b"OK", 0, [], []]


def test_events_are_numbered_without_gaps_in_the_order_they_are_published(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    claim_users(cluster, "a", epochs["a"], ["ann"])
    claim(cluster, node="b", epoch=epochs["b"], conn=1, fold="bob", nick="bob", old="")
    cluster.run(RELEASE, node="a", epoch=epochs["a"], conn=1, fold="ann", reason="")
    cluster.run(KILL, node="a", epoch=epochs["a"], fold="bob", killer="op", reason="")
    assert [cluster.event()[0] for _ in range(3)] == ["4", "5", "6"]


# -- the race ----------------------------------------------------------------------------------


def test_two_nodes_claiming_the_same_nicknames_at_once_have_exactly_one_winner_each(
    redis_server: RedisServer,
) -> None:
    """Two links pipeline claims for the same 200 nicknames, interleaved by Redis: one OK per nickname."""
    driver = SelectorsDriver()
    try:
        nodes = {
            name: driver.add(redis_server.address, name, scripts=[s.script for s in SCRIPTS]) for name in "ab"
        }
        driver.run_until(lambda: all(node.link.state is LinkState.UP for node in nodes.values()))
        epochs = {name: register_through(driver, node, name) for name, node in nodes.items()}
        folds = [f"user{n}" for n in range(200)]
        asked: dict[tuple[str, int], str] = {}
        for conn, fold in enumerate(folds, start=1):
            for name, node in nodes.items():
                args = CLAIM.args(
                    NAMES, node=name, epoch=epochs[name], conn=conn, fold=fold, nick=fold, old="", payload=""
                )
                asked[name, node.link.run_script(CLAIM.script, args=args)] = fold
        for node in nodes.values():
            node.sync()
        driver.run_until(lambda: all(len(node.events_of(Reply)) == len(folds) + 1 for node in nodes.values()))
        winners: dict[str, list[str]] = {fold: [] for fold in folds}
        for name, node in nodes.items():
            for event in node.events_of(Reply)[1:]:
                assert isinstance(event, Reply) and isinstance(event.value, list), event
                status = event.value[0]
                assert status in (b"OK", b"TAKEN"), event
                if status == b"OK":
                    winners[asked[name, event.request]].append(name)
        assert all(len(names) == 1 for names in winners.values()), winners
        with redis_server.client() as client:
            assert client.call("HLEN", NAMES.key("USERS")) == len(folds)
    finally:
        driver.close()


def register_through(driver: SelectorsDriver, node: Node, name: str) -> str:
    """Register a node through its link; its epoch."""
    request = node.link.run_script(REGISTER.script, args=REGISTER.args(NAMES, node=name, fresh=0))
    node.sync()
    driver.run_until(lambda: any(isinstance(e, Reply) and e.request == request for e in node.events))
    reply = node.events_of(Reply)[-1]
    assert isinstance(reply, Reply) and isinstance(reply.value, list) and reply.value[0] == b"OK", reply
    return str(reply.value[1])


# -- names -----------------------------------------------------------------------------------


def test_the_scripts_and_python_spell_the_same_names(cluster: Cluster, epochs: dict[str, str]) -> None:
    claim_users(cluster, "a", epochs["a"], ["ann"])
    keys = cluster.client.call("KEYS", "*")
    assert isinstance(keys, list)
    assert set(keys) == {NAMES.key(k) for k in ("EPOCH", "EPOCHS", "RUNS", "NODES", "USERS", "SEQ")} | {
        NAMES.index("a")
    }


def test_two_clusters_on_one_redis_do_not_share_channels() -> None:
    zero = ClusterNames.for_address(parse_redis_url("redis://h/0"))
    one = ClusterNames.for_address(parse_redis_url("redis://h/1"))
    assert zero.all_channel == b"sc:0:all" and one.all_channel == b"sc:1:all"
    assert zero.node_channel("n") == b"sc:0:node:n" and one.room_channel("games") == b"sc:1:room:games"
    assert zero.link_channel("n") == b"sc:0:link:n"


@pytest.mark.parametrize("node", ["", "a b", "tab\there", "é", "x" * 65])
def test_node_ids_must_fit_in_names_and_records(node: str) -> None:
    with pytest.raises(ValueError, match="invalid node id"):
        check_node_id(node)


def test_a_node_id_that_fits_is_kept() -> None:
    assert check_node_id("node-1.example:7777") == "node-1.example:7777"


def test_a_shared_fact_is_numbered_with_the_directorys_events(
    cluster: Cluster, epochs: dict[str, str]
) -> None:
    assert cluster.ok(SHARE, node="a", epoch=epochs["a"], payload='["a",1,2,["Joined"]]\tand a tab') == [3]
    assert cluster.event() == ["3", "FACT", "a", '["a",1,2,["Joined"]]', "and a tab"]


def test_script_arguments_are_checked_by_name() -> None:
    assert CLAIM.args(NAMES, node="a", epoch=1, conn=2, fold="b", nick="B", old="", payload="") == (
        "sc:0:",
        "a",
        1,
        2,
        "b",
        "B",
        "",
        "",
    )
    with pytest.raises(TypeError, match="claim takes node, epoch, conn, fold, nick, old, payload"):
        CLAIM.args(NAMES, node="a")
    with pytest.raises(TypeError, match="no further arguments"):
        BEAT.args(NAMES, "extra", node="a", epoch=1)
    assert BURST.args(NAMES, 1, "f", "F", node="a", epoch=2) == ("sc:0:", "a", 2, 1, "f", "F")


def test_every_script_compiles(redis_server: RedisServer) -> None:
    with RedisClient(redis_server.port) as client:
        for cluster_script in SCRIPTS:
            reply = client.call("SCRIPT", "LOAD", cluster_script.script.source)
            assert reply == cluster_script.script.sha, (cluster_script.name, reply)
            assert not isinstance(reply, ErrorReply)
