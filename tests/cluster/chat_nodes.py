"""Chat nodes over a real Redis, in one test process: cores, bridges, links, one selectors loop.

Each ``ChatNode`` is a core (a ``FakeNetwork``: clients in memory) and its
``ClusterBridge``, whose link the reference ``SelectorsDriver`` runs over
real sockets.  So the core, the bridge, the scripts and Redis are all real;
only the clients and the loop are the test's.  The same scenarios run
against the fake broker (``tests/fake_cluster.py``) keep it honest.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from adapters.cluster import LinkConfig, carry_out
from adapters.cluster.bridge import ClusterBridge, Phase
from sansio_chat import ClusterAction, LogLevel, ServerConfig
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork

from .driver import Node, SelectorsDriver
from .redis_server import RedisServer

#: Quick timers, so that tests of failures take seconds, not tens of them.
FAST_LINK = LinkConfig(heartbeat_interval=0.2, reply_timeout=1.0, connect_timeout=1.0, grace=0.5)


class ChatNode(Node):
    """A core and its bridge, in the loop of a ``SelectorsDriver``."""

    def __init__(
        self, driver: SelectorsDriver, server: RedisServer, number: int, *, node_id: str = ""
    ) -> None:
        self.bridge = ClusterBridge(
            server.address,
            node_id=node_id or f"node{number}",
            node_number=number,
            now=driver.now(),
            jitter=random.Random(number).random,
            link_config=FAST_LINK,
        )
        super().__init__(driver, self.bridge.link)
        config = ServerConfig(oper_password=OPER_PASSWORD, cluster_node=number, rate_lines=0)
        self.net = FakeNetwork(config, on_cluster=self._act)
        self._acting = False

    def _act(self, action: ClusterAction) -> None:
        self.bridge.act(action)

    @property
    def next_wakeup(self) -> float | None:
        core = self.net.state.next_wakeup
        bridge = self.bridge.next_wakeup
        if core is None or (bridge is not None and bridge < core):
            return bridge
        return core

    def tick(self, now: float) -> None:
        for event in self.bridge.tick(now):
            self.net.receive(event)
        if self.net.state.next_wakeup is not None and now >= self.net.state.next_wakeup:
            self.net.tick(now)

    def sync(self) -> None:
        """Carry out the link's actions and hand the bridge's news to the core, until quiet."""
        for _ in range(1000):
            carry_out(self.link.take_actions(), self)
            events = self.bridge.poll(self.driver.now())
            self.logs += self.bridge.logs
            self.bridge.logs.clear()
            if not events:
                return
            for event in events:
                self.net.receive(event)
        raise AssertionError("the bridge never went quiet")

    @property
    def joined(self) -> bool:
        return self.bridge.phase is Phase.JOINED and self.net.state._seat.link.value == "linked"  # type: ignore[attr-defined]

    def client(self) -> Client:
        client = self.net.connect()
        self.sync()
        return client

    def warnings(self) -> list[str]:
        return [message for level, message in self.logs if level >= LogLevel.WARNING]


class ChatCluster:
    """Several chat nodes on one Redis, and ways to wait for them."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.driver = SelectorsDriver()
        self.nodes: list[ChatNode] = []

    def add(self, number: int = 0, **kwargs: str) -> ChatNode:
        node = ChatNode(self.driver, self.server, number or len(self.nodes) + 1, **kwargs)
        self.driver.attach(node)
        self.nodes.append(node)
        return node

    def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        self.driver.run_until(condition, timeout)

    def joined(self) -> None:
        self.until(lambda: all(node.joined for node in self.nodes))

    def sees(self, client: Client, line: str, timeout: float = 10.0) -> list[str]:
        """Run until ``client`` received ``line``; what it received until then."""
        seen: list[str] = []

        def arrived() -> bool:
            seen.extend(client.lines())
            return line in seen

        self.until(arrived, timeout)
        return seen

    def close(self) -> None:
        self.driver.close()
