"""The Redis link alone: what one message costs a node, without sockets or Redis.

``python -m bench.link_bench`` times the link's hot paths on an in-memory link
that has come up: publishing (encoding ``PUBLISH`` into the pipeline and
handing out the bytes), receiving (hiredis parsing a 64 KiB read of pub/sub
messages into ``Message`` events), and a request with its reply.  Each is
timed several times; the median is reported in microseconds per message.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from adapters.cluster import LinkState, RedisAddress, RedisLink, Role

#: Messages per timed run, and runs per workload.
MESSAGES = 100_000
RUNS = 5
#: A chat line as it might travel between nodes.
PAYLOAD = b"M\tnode-a\t12345\t17\t[alice] hello everyone, how is the game going?\n"
CHANNEL = b"sc:0:room:games"
ECHO = b"sc:0:link:bench"


def _up_link() -> RedisLink:
    """A link that came up against hand-written replies, subscribed to ``CHANNEL``."""
    link = RedisLink(
        RedisAddress(host="127.0.0.1"), client_name="bench", echo_channel=ECHO, jitter=random.random, now=0.0
    )
    link.take_actions()
    link.connected(Role.CMD, now=0.0)
    link.connected(Role.SUB, now=0.0)
    link.take_actions()
    link.data_received(Role.CMD, b"+OK\r\n$12\r\nrun_id:bench\r\n", now=0.0)
    link.data_received(Role.SUB, b"+OK\r\n" + _array(b"subscribe", ECHO, 1), now=0.0)
    link.subscribe(CHANNEL)
    link.data_received(Role.SUB, _array(b"subscribe", CHANNEL, 2), now=0.0)
    link.take_actions()
    link.take_events()
    assert link.state is LinkState.UP
    return link


def _array(kind: bytes, channel: bytes, count: int) -> bytes:
    return b"*3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n:%d\r\n" % (len(kind), kind, len(channel), channel, count)


def _publish(link: RedisLink) -> None:
    for start in range(0, MESSAGES, 100):  # a loop pass publishes a burst, then hands out the bytes
        for _ in range(100):
            link.publish(CHANNEL, PAYLOAD)
        link.take_actions()
        link.data_received(Role.CMD, b":3\r\n" * 100, now=float(start))


def _receive(link: RedisLink) -> None:
    message = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(CHANNEL),
        CHANNEL,
        len(PAYLOAD),
        PAYLOAD,
    )
    per_read = (64 * 1024) // len(message)
    chunk = message * per_read
    received = 0
    while received < MESSAGES:
        link.data_received(Role.SUB, chunk, now=0.0)
        received += len(link.take_events())


def _request(link: RedisLink) -> None:
    for _ in range(0, MESSAGES, 100):
        for _ in range(100):
            link.call(b"GET", b"k")
        link.take_actions()
        link.data_received(Role.CMD, b"$1\r\nv\r\n" * 100, now=0.0)
        link.take_events()


WORKLOADS: dict[str, Callable[[RedisLink], None]] = {
    "publish (encode, pipeline, reply)": _publish,
    "receive (parse, Message event)": _receive,
    "request and reply": _request,
}


def main() -> None:
    print(f"{MESSAGES} messages per run, median of {RUNS} runs")
    for name, workload in WORKLOADS.items():
        times = []
        for _ in range(RUNS):
            link = _up_link()
            started = time.perf_counter()
            workload(link)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"{name:36} {median / MESSAGES * 1e6:6.2f} us/message  {MESSAGES / median:>10,.0f} messages/s")


if __name__ == "__main__":
    main()
