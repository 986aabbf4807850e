"""The cluster as users run it: ``sansio-chat serve --cluster`` processes, a real redis-server, real sockets.

Three nodes, one per backend, with text clients spread over them: messages,
private messages, WHO and KILL across nodes, nickname races, one order for
everyone; IRC and web clients on one node with a text client on another; a
node killed with ``kill -9`` under traffic; a cluster of one reading byte
for byte like a lone server; ``--workers``.  (A node stopped and continued,
Redis restarted empty or from a stale snapshot, a node cut off by Redis'
output-buffer limit: ``test_process_failures.py``.)  Every wait has a
deadline; no test sleeps to wait for the server.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from adapters.cli import BACKENDS
from tests.conformance.irc_client import IRCClient
from tests.conformance.server import OPER_PASSWORD, ServerProcess
from tests.conformance.test_differential import EXPECTED, ROOMS_EXPECTED, run_rooms_session, run_session

from .processes import JOIN_TIMEOUT, agree, irc_until, named, start_node, stop, until_line, wait_for
from .redis_server import RedisServer

#: A line of the server's log: date, time, level, whose it is (a worker's tag), the logger.
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ (?:\[(?P<whose>worker \d+)\] )?(?P<logger>\S+): "
)


@pytest.fixture
def nodes(redis_server: RedisServer) -> Iterator[list[ServerProcess]]:
    """Three nodes, one per backend, on the session's Redis."""
    started: list[ServerProcess] = []
    try:
        for backend in BACKENDS:
            started.append(start_node(redis_server, backend, backend))
        yield started
    finally:
        stop(*started)


# -- a cluster of one ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_one_node_cluster_reads_byte_for_byte_like_a_lone_server(
    redis_server: RedisServer, backend: str
) -> None:
    node = start_node(redis_server, backend, f"alone-{backend}", "--rate-lines", "0")
    try:
        transcripts = run_session(node) | run_rooms_session(node)
    finally:
        node.stop()
    for name, lines in (EXPECTED | ROOMS_EXPECTED).items():
        expected = "".join(f"{line}\n" for line in lines).encode()
        assert transcripts[name] == expected, f"client {name}"


# -- three nodes, three backends ---------------------------------------------------------------------


def test_users_on_three_backends_talk_as_in_one_chat(nodes: list[ServerProcess]) -> None:
    one, two, three = nodes
    alice, bob, carol = named(one, "alice"), named(two, "bob"), named(three, "carol")
    alice.send_line("MSG hello from select")
    assert until_line(bob, "[alice] hello from select")[-1] == "[alice] hello from select"
    until_line(carol, "[alice] hello from select")
    bob.send_line("TELL carol psst")
    until_line(carol, "[bob -> carol] psst")
    carol.send_line("JOIN #dev")
    until_line(carol, "[server] You are now in #dev")
    alice.send_line("JOIN #dev")
    until_line(carol, "[server] alice joined #dev")
    alice.send_line("ME waves")
    until_line(carol, "* alice waves")
    agree([alice, carol], ["@carol", "alice"])
    agree([bob], ["bob"])
    carol.send_line(f"OPER {OPER_PASSWORD}")
    carol.send_line("KILL bob enough")
    assert bob.lines_until_closed()[-2:] == ["[carol] enough", "[server] You have been killed by carol"]
    until_line(carol, "[server] bob is disconnected (killed by carol)")  # (alice shares no room with bob)


def test_two_nodes_racing_for_one_nickname_have_exactly_one_winner(nodes: list[ServerProcess]) -> None:
    left, right = nodes[0].join(), nodes[2].join()
    for round_ in range(40):
        left.send_line(f"NICK racer{round_}")
        right.send_line(f"NICK RACER{round_}")
        answers = []
        for client in (left, right):
            lines = client.ping_barrier()
            answers += [line for line in lines if "known as" in line.lower() or "already in use" in line]
        mine = [line for line in answers if line.startswith(("[server] You are now", "[server] Error"))]
        assert len(mine) == 2, answers
        assert sum(line.startswith("[server] You are now known as") for line in mine) == 1, answers


def test_every_user_on_every_node_sees_one_order_and_each_senders_order(nodes: list[ServerProcess]) -> None:
    clients = [node.join() for node in nodes for _ in range(3)]
    agree(clients, [client.name for client in clients])  # everyone knows everyone before the race
    for round_ in range(20):
        for index, client in enumerate(clients):
            client.send_line(f"MSG m{index}-{round_}")
    streams = []
    for index, client in enumerate(clients):
        expected = {f"m{other}-{n}" for other in range(len(clients)) if other != index for n in range(20)}
        seen: list[str] = []
        deadline = time.monotonic() + 15
        while set(seen) != expected:
            line = client.read_line(max(0.0, deadline - time.monotonic()))
            text = line.split("] ", 1)[-1]
            if text.startswith("m"):
                seen.append(text)
        streams.append(seen)
    for seen in streams:
        assert len(seen) == len(set(seen))  # at most once
        for other in range(len(clients)):
            own = [tag for tag in seen if tag.startswith(f"m{other}-")]
            assert own == sorted(own, key=lambda tag: int(tag.split("-")[1]))  # each sender's order
    reference = streams[0]
    for seen in streams[1:]:
        common = set(seen) & set(reference)
        assert [tag for tag in seen if tag in common] == [tag for tag in reference if tag in common]


def test_irc_and_web_clients_on_one_node_talk_with_a_text_client_on_another(
    redis_server: RedisServer,
) -> None:
    text_node = start_node(redis_server, "select", "texts")
    other = start_node(
        redis_server, "asyncio", "others", "--listen", "irc://127.0.0.1:0", "--listen", "http://127.0.0.1:0"
    )
    try:
        alice = named(text_node, "alice")
        ann = IRCClient(other.connect(port=other.port_of("irc"), chat=False), "ann")
        ann.register()
        ann.send("JOIN #lobby")
        web = other.web_join()
        agree([alice], ["alice", "ann", web.name])
        ann.send("CAP REQ :server-time")
        ann.barrier()
        alice.send_line("MSG hello, everyone")
        line = ann.read_line()
        tags, _, rest = line.partition(" ")
        assert rest == ":alice!text@text.invalid PRIVMSG #lobby :hello, everyone"
        # Stamped with the receiving node's wall clock when it came from Redis (not 1970).
        sent_at = datetime.fromisoformat(tags.removeprefix("@time=")).timestamp()
        assert abs(sent_at - time.time()) < 60, line
        ann.send("CAP REQ :-server-time")
        ann.barrier()
        ann.send("PRIVMSG #lobby :hi alice", "PRIVMSG alice :psst")
        until_line(alice, "[ann -> alice] psst")
        web.send({"cmd": "msg", "text": "and the web"})
        until_line(alice, f"[{web.name}] and the web")
        irc_until(ann, f":{web.name}!web@web.invalid PRIVMSG #lobby :and the web")
    finally:
        stop(text_node, other)


def test_a_node_killed_under_traffic_takes_its_200_users_out_of_the_chat(redis_server: RedisServer) -> None:
    doomed = start_node(redis_server, "select", "doomed")
    survivor = start_node(redis_server, "threads", "survivor")
    try:
        crowd = [doomed.join() for _ in range(200)]
        talker, watcher = named(survivor, "talker"), named(survivor, "watcher")
        agree([watcher], ["talker", "watcher", *(client.name for client in crowd)], timeout=20.0)
        for round_ in range(50):  # traffic both ways while it dies
            talker.send_line(f"MSG busy {round_}")
            crowd[round_].send_line(f"MSG crowd {round_}")
        doomed.terminate(signal.SIGKILL)
        killed_at = time.monotonic()
        agree([watcher], ["talker", "watcher"], timeout=15.0)  # the reaper's bound is 6 s; slack for CI
        gone_after = time.monotonic() - killed_at
        talker.send_line("NICK " + crowd[0].name)  # its nickname is free again
        assert any("known as" in line for line in talker.ping_barrier()), gone_after
    finally:
        stop(doomed, survivor)


def test_workers_share_one_port_as_nodes_of_one_chat_and_stop_as_a_group(redis_server: RedisServer) -> None:
    group = ServerProcess("select", ["--cluster", redis_server.url(), "--node-id", "w", "--workers", "2"])
    try:
        wait_for(lambda: group.output.count("joined (epoch") == 2, JOIN_TIMEOUT, "two workers joining")
        clients = [group.join() for _ in range(12)]  # the kernel spreads them over the workers
        nodes = {client.name for client in clients}
        agree(clients[:2], sorted(nodes))  # whichever worker each is on, everyone is in one chat
        clients[0].send_line("MSG one chat")
        for client in clients[1:]:
            until_line(client, f"[{clients[0].name}] one chat")
        for client in clients:
            client.close()
        assert group.terminate() == 0  # SIGTERM reaches every worker; the group ends well
    finally:
        group.terminate(signal.SIGKILL)
    assert "w-1" in group.output and "w-2" in group.output
    # One stderr for all: every line of a worker says whose it is, the parent's stay plain.
    logged = [match for match in map(LOG_LINE.match, group.output.splitlines()) if match]
    assert {match["whose"] for match in logged} == {None, "worker 1", "worker 2"}
    assert all(match["logger"] == "sansio_chat.workers" for match in logged if match["whose"] is None)
    for number in (1, 2):
        assert f"[worker {number}] sansio_chat.select: cluster: node w-{number} joined" in group.output
        assert f"[worker {number}] sansio_chat.select: shutting down" in group.output


def test_a_worker_that_dies_stops_the_others_and_the_group_exits_with_failure(
    redis_server: RedisServer,
) -> None:
    group = ServerProcess("select", ["--cluster", redis_server.url(), "--node-id", "w", "--workers", "2"])
    try:
        wait_for(lambda: group.output.count("joined (epoch") == 2, JOIN_TIMEOUT, "two workers joining")
        started = re.search(r"2 workers started \(pids (\d+) (\d+)\)", group.output)
        assert started is not None, group.output
        os.kill(int(started[1]), signal.SIGKILL)  # worker 1 dies; nobody asked the group to stop
        assert group.wait() == 1
    finally:
        group.terminate(signal.SIGKILL)
    assert "worker 1 ended by itself (status -9): stopping the others" in group.output
    assert "Traceback" not in group.output
    with redis_server.client() as redis:  # worker 2 stopped cleanly: it left the cluster at once
        epochs = redis.call("HKEYS", "sc:0:epochs")
    assert isinstance(epochs, list) and b"w-2" not in epochs
