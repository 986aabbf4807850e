"""The cluster's failures as users live them: real ``serve --cluster`` processes, a real redis-server.

Three nodes, one per backend, share one redis-server of this module's own,
which the tests kill, restart (empty, or from a stale snapshot) and
reconfigure: a node stopped (SIGSTOP) past the reaper and continued, Redis
restarted empty and from a stale snapshot, a stopped node's subscription
cut off by Redis' output-buffer limit while the others flood a room.  Text
clients mostly, an IRC client on the asyncio node.  The nodes run with
their default timers (the bounds the guarantees of docs/cluster.md state);
every wait polls a condition with a deadline, no test sleeps to wait for a
server.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from adapters.cli import BACKENDS
from adapters.cluster.bridge import DEAD_AFTER, STOP_WAIT
from tests.conformance.client import ReadTimeoutError
from tests.conformance.irc_client import IRCClient
from tests.conformance.server import OPER_PASSWORD, ServerProcess

from .processes import LOST, MAY_HAVE_LOST, RESTORED, agree, named, start_node, stop, until_line, wait_for
from .redis_server import RedisServer

#: Guarantee 4: a dead node's users leave everywhere within this (DEAD_AFTER, one reap, delivery).
GONE_WITHIN = 6.0
#: Guarantee 5: after Redis (or a node) returns, every node agrees on the users within this.
AGREED_WITHIN = 5.0
#: What a loaded CI machine may add to a bound of the cluster's own (scheduling, not timers).
SLACK = 2.0
#: The link's grace (2 s) before users hear of a loss, and the reconnect backoff's ceiling (2 s).
LOSS_TOLD_WITHIN = 2.0 + 2.0
NICK_UNAVAILABLE = "nickname changes are unavailable while the cluster link is down"
#: Redis' default limit for subscribers, put back after the test that lowers it.
DEFAULT_PUBSUB_LIMIT = "pubsub 33554432 8388608 60"
#: What fills the flood's messages: the cut comes after megabytes (the sockets' buffers), not lines.
FILLER = "x" * 3500
GUEST = re.compile(r"\[server\] You are now known as (guest\d+)")


@dataclass
class Cluster:
    """This module's redis-server and its three nodes (select, threads, asyncio with an IRC listener)."""

    redis: RedisServer
    select: ServerProcess
    threads: ServerProcess
    asyncio: ServerProcess

    @property
    def nodes(self) -> tuple[ServerProcess, ...]:
        return (self.select, self.threads, self.asyncio)

    def irc(self, nick: str) -> IRCClient:
        """An IRC user on the asyncio node, registered and in ``#lobby`` with the text users."""
        client = IRCClient(self.asyncio.connect(port=self.asyncio.port_of("irc"), chat=False), nick)
        client.register()
        client.send("JOIN #lobby")
        client.barrier()
        return client

    def directory(self) -> list[str]:
        """The nicknames (folded) Redis holds, sorted."""
        with self.redis.client() as client:
            keys = client.call("HKEYS", "sc:0:users")
        assert isinstance(keys, list)
        return sorted(key.decode() for key in keys if isinstance(key, bytes))


@pytest.fixture(scope="module")
def _nodes(module_redis: RedisServer) -> Iterator[Cluster]:
    started: list[ServerProcess] = []
    try:
        common = ("--rate-lines", "0")  # a user may flood a room (the output-buffer test)
        started.append(start_node(module_redis, "select", "sel", *common))
        started.append(start_node(module_redis, "threads", "thr", *common))
        started.append(start_node(module_redis, "asyncio", "aio", *common, "--listen", "irc://127.0.0.1:0"))
        yield Cluster(module_redis, *started)
    finally:
        for node in started:
            node.send_signal(signal.SIGCONT)
        stop(*started)


@pytest.fixture
def cluster(_nodes: Cluster) -> Iterator[Cluster]:
    """The module's cluster; afterwards this test's clients are closed and Redis is as it was."""
    before = [len(node.clients) for node in _nodes.nodes]
    try:
        yield _nodes
    finally:
        for node, count in zip(_nodes.nodes, before, strict=True):
            node.send_signal(signal.SIGCONT)  # (a test that failed while a node was stopped)
            for client in node.clients[count:]:
                client.close()
        if not _nodes.redis.running:
            _nodes.redis.restart()
        with _nodes.redis.client() as redis:
            redis.call("CONFIG", "SET", "client-output-buffer-limit", DEFAULT_PUBSUB_LIMIT)


def irc_until(client: IRCClient, wanted: Callable[[str], bool], timeout: float = 10.0) -> list[str]:
    """``client``'s lines up to the first one ``wanted`` (included)."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while not seen or not wanted(seen[-1]):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{client.nick}: no such line; got {seen!r}")
        try:
            seen.append(client.read_line(left))
        except ReadTimeoutError:
            raise AssertionError(f"{client.nick}: no such line; got {seen!r}") from None
    return seen


def renamed_to(lines: list[str]) -> str:
    """The guest name a user was given (it must be in ``lines``)."""
    names = [match[1] for line in lines if (match := GUEST.fullmatch(line))]
    assert len(names) == 1, lines
    return names[0]


# -- a node stopped, and continued --------------------------------------------------------------------


def test_a_node_stopped_past_the_reaper_leaves_then_comes_back_without_stealing_a_nickname(
    cluster: Cluster,
) -> None:
    alice, dave = named(cluster.select, "alice"), named(cluster.select, "dave")
    bob, carol = named(cluster.threads, "bob"), named(cluster.threads, "carol")
    erin, ann = named(cluster.asyncio, "erin"), cluster.irc("ann")
    agree([alice, bob, erin], ["alice", "dave", "bob", "carol", "erin", "ann"])

    cluster.threads.send_signal(signal.SIGSTOP)
    try:
        agree([alice, erin], ["alice", "dave", "erin", "ann"], timeout=GONE_WITHIN + SLACK)  # guarantee 4
        netsplit = ":bob!text@text.invalid QUIT :*.net *.split"  # as IRC tells a netsplit
        irc_until(ann, lambda line: line == netsplit)
        dave.send_line("NICK bob")  # bob's nickname is free again while his node is stopped
        until_line(dave, "[server] You are now known as bob")
    finally:
        cluster.threads.send_signal(signal.SIGCONT)
    continued = time.monotonic()

    # The node learns it was declared dead: its users are told; bob is renamed, not dave.
    heard = until_line(bob, MAY_HAVE_LOST, timeout=AGREED_WITHIN + SLACK)
    assert "[server] Your nickname bob was taken while this server was cut off" in heard, heard
    guest = renamed_to(heard)
    assert "[server] Your nickname" not in " ".join(until_line(carol, MAY_HAVE_LOST))
    everyone = ["alice", "bob", "carol", guest, "erin", "ann"]
    agree([alice, bob, erin], everyone, timeout=AGREED_WITHIN + SLACK)
    assert time.monotonic() - continued <= AGREED_WITHIN + SLACK  # guarantee 5 (5 s), CI's slack
    assert cluster.directory() == sorted(everyone)
    carol.send_line("MSG back")
    until_line(alice, "[carol] back")
    irc_until(ann, lambda line: line == ":carol!text@text.invalid PRIVMSG #lobby :back")


# -- Redis restarted ------------------------------------------------------------------------------


def test_redis_restarted_empty_every_node_tells_its_users_and_they_agree_with_unique_names(
    cluster: Cluster,
) -> None:
    alice, bob, carol = (
        named(cluster.select, "alice"),
        named(cluster.threads, "bob"),
        named(cluster.asyncio, "carol"),
    )
    agree([alice, bob, carol], ["alice", "bob", "carol"])

    cluster.redis.kill()
    for user in (alice, bob, carol):
        until_line(user, LOST, timeout=LOSS_TOLD_WITHIN + SLACK)
    alice.send_line("NICK zed")
    assert any(NICK_UNAVAILABLE in line for line in alice.ping_barrier())
    newcomer = cluster.select.join()  # a guest number from the node's leased block
    alice.send_line("MSG only here")
    until_line(newcomer, "[alice] only here")  # each node serves its own users meanwhile
    agree([bob], ["bob"])

    cluster.redis.restart()
    restarted = time.monotonic()
    for user in (alice, bob, carol, newcomer):
        assert "[alice] only here" not in until_line(user, RESTORED, timeout=LOSS_TOLD_WITHIN + SLACK)
    everyone = ["alice", "bob", "carol", newcomer.name]
    agree([alice, bob, carol], everyone, timeout=AGREED_WITHIN + SLACK)
    assert time.monotonic() - restarted <= AGREED_WITHIN + SLACK  # guarantee 5 (5 s), CI's slack

    # Redis counts guest numbers from zero again, the nodes hand out what they hold: no name twice.
    late = [node.join() for node in (cluster.threads, cluster.asyncio, cluster.select) for _ in range(3)]
    everyone += [client.name for client in late]
    assert len(set(everyone)) == len(everyone), everyone
    agree([alice, bob, carol], everyone)
    assert cluster.directory() == sorted(everyone)
    carol.send_line("MSG after the restart")
    until_line(bob, "[carol] after the restart")


def test_while_redis_is_down_an_irc_client_is_granted_no_chosen_nickname(cluster: Cluster) -> None:
    """Guarantee 1 for IRC: a rename and a registration both wait for the cluster (437, naming the nick)."""
    ann = cluster.irc("ann")
    alice = named(cluster.select, "alice")
    tom = named(cluster.threads, "tom")  # so that the test ends with every node linked again
    cluster.redis.kill()
    irc_until(
        ann, lambda line: line.endswith(LOST.removeprefix("[server] ")), timeout=LOSS_TOLD_WITHIN + SLACK
    )
    ann.send("NICK annie")
    assert [line.split(" ", 1)[1] for line in ann.barrier()] == [
        "437 ann annie :Nick/channel is temporarily unavailable"
    ]
    # Newcomers asking for one nickname: no node may grant it alone (another may grant it meanwhile).
    port = cluster.asyncio.port_of("irc")
    newcomers = [IRCClient(cluster.asyncio.connect(port=port, chat=False), "newbie") for _ in range(2)]
    for newcomer in newcomers:
        newcomer.send("NICK newbie", "USER newbie 0 * :Newbie")
        answer = irc_until(newcomer, lambda line: line.split()[1] in ("001", "433", "437"))[-1]
        assert answer.split(" ", 1)[1] == "437 * newbie :Nick/channel is temporarily unavailable", answer
    cluster.redis.restart()
    for user in (alice, tom):
        until_line(user, RESTORED, timeout=LOSS_TOLD_WITHIN + SLACK)
    irc_until(ann, lambda line: line.endswith(RESTORED.removeprefix("[server] ")))
    first, second = newcomers
    first.send("NICK newbie")  # (its USER was given: the nickname is all registration waits for)
    answer = irc_until(first, lambda line: line.split()[1] in ("001", "433", "437"))[-1]
    assert answer.split()[1:3] == ["001", "newbie"], answer
    second.send("NICK newbie")
    answer = irc_until(second, lambda line: line.split()[1] in ("001", "433"))[-1]
    assert answer.split(" ", 1)[1] == "433 * newbie :Nickname is already in use", answer


def test_redis_restarted_from_a_stale_snapshot_gives_no_nickname_back_to_its_old_holder(
    cluster: Cluster,
) -> None:
    """The snapshot says carol and dave are where they were; since, they swapped nodes."""
    alice, dave, frank = named(cluster.select, "alice"), named(cluster.select, "dave"), cluster.select.join()
    bob = named(cluster.threads, "bob")
    carol, erin = named(cluster.asyncio, "carol"), cluster.asyncio.join()
    agree([alice], ["alice", "dave", frank.name, "bob", "carol", erin.name])
    cluster.redis.save_snapshot()
    for user, nick in ((carol, "carla"), (dave, "dan"), (frank, "carol"), (erin, "dave")):
        user.send_line(f"NICK {nick}")
        until_line(user, f"[server] You are now known as {nick}")
    everyone = ["alice", "dan", "carol", "bob", "carla", "dave"]
    agree([alice, bob, carol], everyone)

    cluster.redis.kill()
    for user in (alice, bob, carol):
        until_line(user, LOST, timeout=LOSS_TOLD_WITHIN + SLACK)
    cluster.redis.restart(from_snapshot=True)
    restarted = time.monotonic()
    for user in (alice, dave, frank, bob, carol, erin):
        heard = until_line(user, RESTORED, timeout=LOSS_TOLD_WITHIN + SLACK)
        assert not [
            line for line in heard if line.startswith(("[server] Your nickname", "[server] You are now"))
        ], heard
    agree([alice, bob, carol], everyone, timeout=AGREED_WITHIN + SLACK)
    assert time.monotonic() - restarted <= AGREED_WITHIN + SLACK  # guarantee 5 (5 s), CI's slack
    wait_for(lambda: cluster.directory() == sorted(everyone), AGREED_WITHIN, "Redis holding every nickname")
    carol.send_line("NICK dave")  # still taken: the swap stands
    assert any("already in use" in line for line in carol.ping_barrier())


# -- a slow node cut off by Redis -------------------------------------------------------------------------


def subscribed(redis: RedisServer, name: str) -> bool:
    """Whether the connection ``name`` (``CLIENT SETNAME``) is open in Redis."""
    with redis.client() as client:
        listing = client.call("CLIENT", "LIST", "TYPE", "pubsub")
    assert isinstance(listing, bytes)
    return f" name={name} ".encode() in listing


def test_a_stopped_node_cut_off_by_the_output_buffer_limit_tells_its_users_and_slows_nobody(
    cluster: Cluster,
) -> None:
    alice = named(cluster.select, "alice")
    bob = named(cluster.threads, "bob")
    erin = named(cluster.asyncio, "erin")
    agree([alice, bob, erin], ["alice", "bob", "erin"])
    for user in (alice, bob):
        user.send_line("JOIN #flood")
        user.ping_barrier()
    sub = "sansio-chat:thr:sub"
    assert subscribed(cluster.redis, sub)
    with cluster.redis.client() as client:
        assert client.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 64kb 32kb 1") == b"OK"

    cut = "cluster: the sub connection broke"  # (closed by Redis, or reset: it had unread bytes)
    cuts = cluster.threads.output.count(cut)
    cluster.threads.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    sent = 0
    try:
        # Flood #flood until Redis cuts the stopped node's subscription; before the reaper would.
        while subscribed(cluster.redis, sub):
            assert time.monotonic() - stopped < DEAD_AFTER - 1.0, f"not cut off after {sent} messages"
            alice.send_raw(b"".join(f"MSG f{n} {FILLER}\n".encode() for n in range(sent, sent + 100)))
            sent += 100
            alice.ping_barrier()  # guarantee 6: the flooder's node answers, its words came back
            erin.send_line(f"TELL alice still here after {sent}")
            erin.ping_barrier()  # guarantee 6: the third node answers, and its words go across
            until_line(alice, f"[erin -> alice] still here after {sent}")
    finally:
        cluster.threads.send_signal(signal.SIGCONT)

    # bob gets what was on its way, in order and at most once, then is told the rest may be lost.
    heard = until_line(bob, MAY_HAVE_LOST, timeout=AGREED_WITHIN + SLACK)
    flood = [int(line.split()[1][1:]) for line in heard if line.startswith("[alice] f")]
    assert flood == sorted(set(flood)) and len(flood) < sent, (len(flood), sent)
    assert cluster.threads.output.count(cut) == cuts + 1  # the node noticed, and rejoined
    agree([alice, bob], ["@alice", "bob"], timeout=AGREED_WITHIN + SLACK)  # (WHO: #flood's members)
    alice.send_line("MSG after the cut")
    until_line(bob, "[alice] after the cut")


# -- a kill its victim's node did not hear ----------------------------------------------------------


@contextlib.contextmanager
def threads_node_stopped_and_unsubscribed(cluster: Cluster) -> Iterator[None]:
    """The threads node SIGSTOPped, its subscription to Redis cut: it misses what happens meanwhile
    (stopped, it cannot subscribe again before it has happened); SIGCONT at the end."""
    with cluster.redis.client() as redis:
        listing = redis.call("CLIENT", "LIST", "TYPE", "pubsub")
        assert isinstance(listing, bytes)
        (sub,) = [line for line in listing.decode().splitlines() if " name=sansio-chat:thr:sub " in line]
        cluster.threads.send_signal(signal.SIGSTOP)
        try:
            assert redis.call("CLIENT", "KILL", "ID", sub.split()[0].removeprefix("id=")) == 1
            yield
        finally:
            cluster.threads.send_signal(signal.SIGCONT)


def test_a_kill_whose_event_its_victims_node_missed_still_disconnects_the_victim(cluster: Cluster) -> None:
    """The victim's node was cut off from the ``all`` channel as the kill went by: its rejoin learns it."""
    oper, victim = named(cluster.select, "oper"), named(cluster.threads, "victim")
    agree([oper, victim], ["oper", "victim"])
    oper.send_line(f"OPER {OPER_PASSWORD}")
    oper.ping_barrier()
    with threads_node_stopped_and_unsubscribed(cluster):
        oper.send_line("KILL victim enough")
        assert oper.ping_barrier() == ["[server] victim is disconnected (killed by oper)"]
    assert victim.lines_until_closed()[-2:] == ["[oper] enough", "[server] You have been killed by oper"]
    agree([oper], ["oper"])
    assert cluster.directory() == ["oper"]


def test_a_kill_whose_victims_node_was_reaped_before_it_heard_still_disconnects_the_victim(
    cluster: Cluster,
) -> None:
    """As above, but the victim's node stays stopped past the reaper: it comes back fenced and bursts its
    users, and the kill (kept for it) is applied, not forgotten with the node."""
    oper, victim = named(cluster.select, "oper"), named(cluster.threads, "victim")
    witness = named(cluster.threads, "wit")
    agree([oper, victim], ["oper", "victim", "wit"])
    oper.send_line(f"OPER {OPER_PASSWORD}")
    oper.ping_barrier()
    with threads_node_stopped_and_unsubscribed(cluster):
        oper.send_line("KILL victim enough")
        assert oper.ping_barrier() == ["[server] victim is disconnected (killed by oper)"]
        until_line(oper, "[server] wit is disconnected (server down)", timeout=GONE_WITHIN + SLACK)
    assert victim.lines_until_closed()[-2:] == ["[oper] enough", "[server] You have been killed by oper"]
    agree([oper, witness], ["oper", "wit"], timeout=AGREED_WITHIN + SLACK)
    assert cluster.directory() == ["oper", "wit"]


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_redis_that_resets_every_connection_leaves_the_node_serving_its_users_and_retrying(
    backend: str,
) -> None:
    """Something at Redis' address (a proxy, a Redis gone wrong) takes each connection, reads the
    node's first commands and resets it: the node says so, tries again, and serves its users."""
    with socket.create_server(("127.0.0.1", 0)) as fake:
        fake.settimeout(LOSS_TOLD_WITHIN + SLACK)
        url = f"redis://127.0.0.1:{fake.getsockname()[1]}"
        node = ServerProcess(backend, ["--cluster", url, "--node-id", f"reset-{backend}"])
        try:
            for _ in range(4):  # both connections, then both again
                conn, _ = fake.accept()
                with conn:
                    conn.settimeout(LOSS_TOLD_WITHIN + SLACK)
                    assert conn.recv(65536)  # its set-up (CLIENT SETNAME...), never answered
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            alice, bob = node.join(), node.join()
            alice.send_line("MSG still here")
            until_line(bob, f"[{alice.name}] still here")
            wait_for(lambda: "reset by peer" in node.output, LOSS_TOLD_WITHIN + SLACK, "the reset logged")
        finally:
            fake.close()
            status = node.terminate()
        assert status == 0, node.output
    assert "Traceback" not in node.output


def test_a_redis_address_no_connection_can_reach_is_told_to_the_operator_and_users_are_served() -> None:
    """The limited broadcast address: the kernel refuses the connection at once (ENETUNREACH),
    with nothing sent anywhere.  A mistaken address must not stop the node serving."""
    node = ServerProcess("select", ["--cluster", "redis://255.255.255.255:6379", "--node-id", "nowhere"])
    try:
        alice, bob = node.join(), node.join()
        alice.send_line("MSG anyone?")
        until_line(bob, f"[{alice.name}] anyone?")
        wait_for(
            lambda: "link to Redis down: cannot connect to redis://255.255.255.255:6379/0" in node.output,
            LOSS_TOLD_WITHIN + SLACK,
            "the operator told why",
        )
    finally:
        status = node.terminate()
    assert status == 0, node.output
    assert "Traceback" not in node.output


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_node_told_to_stop_while_redis_hangs_stops_within_its_wait(
    own_redis: RedisServer, backend: str
) -> None:
    """Redis stopped (SIGSTOP: its connections open, nothing answered): the node's users cannot be
    released, and it says so, but the operator's SIGTERM still ends it within a second or so."""
    node = start_node(own_redis, backend, f"hang-{backend}")
    alice = named(node, "alice")
    os.kill(own_redis.pid, signal.SIGSTOP)
    try:
        alice.close()
        asked = time.monotonic()
        status = node.terminate()
        took = time.monotonic() - asked
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)
    assert status == 0, node.output
    assert "Redis did not confirm the release of this node's users" in node.output
    assert took < STOP_WAIT + SLACK, (took, node.output)
