"""Helpers for tests of ``sansio-chat serve --cluster`` processes: start nodes, name users, wait.

Every wait polls a condition with a deadline, or reads with one: the nodes
work meanwhile, and a test never sleeps to wait for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conformance.client import Client
from tests.conformance.irc_client import IRCClient
from tests.conformance.server import ServerProcess

from .redis_server import RedisServer

#: How long a node may take to join (start, connect, register) on a loaded machine.
JOIN_TIMEOUT = 15.0
LOST = "[server] Lost contact with the other servers: only users on this server can hear you"
RESTORED = "[server] Contact with the other servers restored"
MAY_HAVE_LOST = "[server] Some messages from or to other servers may have been lost"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds (the server works meanwhile); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)  # polling a condition with a deadline, not waiting for the server


def start_node(redis: RedisServer, backend: str, name: str, *args: str) -> ServerProcess:
    """A node on its own port, once it has joined the cluster."""
    node = ServerProcess(backend, ["--cluster", redis.url(), "--node-id", name, *args])
    wait_for(lambda: f"node {name} joined" in node.output, JOIN_TIMEOUT, f"{name} joining")
    return node


def stop(*nodes: ServerProcess) -> None:
    """Close every client of ``nodes``, then stop them (SIGTERM: their users leave the cluster at once)."""
    for node in nodes:
        for client in node.clients:
            client.close()
        node.terminate()


def named(node: ServerProcess, nick: str) -> Client:
    """A new user of ``node`` named ``nick`` (news of others, from any node, may come first)."""
    client = node.join()
    client.send_line(f"NICK {nick}")
    until_line(client, f"[server] You are now known as {nick}")
    client.name = nick
    return client


def until_line(client: Client, line: str, timeout: float = 10.0) -> list[str]:
    """The lines ``client`` gets up to ``line`` (included)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != line:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{client!r}: no {line!r}; got {seen!r}")
        seen.append(client.read_line(left))
    return seen


def irc_until(client: IRCClient, line: str, timeout: float = 10.0) -> None:
    """Read ``client``'s lines until ``line`` (what another node sent comes when it comes)."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while not seen or seen[-1] != line:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{client.nick}: no {line!r}; got {seen!r}")
        seen.append(client.read_line(left))


def agree(clients: list[Client], nicks: list[str], timeout: float = 10.0) -> None:
    """Each client's WHO lists exactly ``nicks`` (any order), within ``timeout``."""
    deadline = time.monotonic() + timeout
    for client in clients:
        while True:
            client.send_line("WHO")
            answer = [line for line in client.ping_barrier() if line.startswith("[server] Users")]
            listed = sorted(answer[-1].split(": ", 1)[1].split()) if answer else []
            if listed == sorted(nicks):
                break
            if time.monotonic() >= deadline:
                raise AssertionError(f"{client!r}: WHO lists {listed}, not {sorted(nicks)}")
