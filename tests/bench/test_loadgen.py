"""The load generator's checks: every delivery once, in per-sender order, none from another room.

Its receive path checks whole chunks at once; these feed it the bytes a
server would send, whole and split at every byte, and the faults it must
catch (a duplicate, a gap, a message of another room, a client's own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from bench.loadgen import Client, Dialect, LoadError, Run, WebClient

#: Messages per sender: enough that a whole stream is one chunk checked in bulk.
M = 20
#: Scheduled send times in the lines: latencies are "now" minus these, so any positive value will do.
AT = 1000


def _line(dialect: Dialect, sender: int, seq: int) -> bytes:
    payload = b"@@M %d %d %d xxxx" % (sender, seq, AT + seq)
    if dialect == "irc":
        return b":b%d!b@127.0.0.1 PRIVMSG #bench :%s\r\n" % (sender, payload)
    if dialect == "web":
        return b'\x81\x3a{"type":"message","from":"b%d","text":"%s"}' % (sender, payload)
    if dialect == "floor":
        return b"MSG %s\n" % payload
    return b"[b%d] %s\n" % (sender, payload)


def _feed(
    dialect: Dialect,
    chunks: Sequence[bytes],
    *,
    senders: int = 2,
    messages: int = M,
    rooms: int = 1,
    index: int = 3,
) -> tuple[Run, Client]:
    """A registered client ``index`` of a run, after reading ``chunks``."""

    async def go() -> tuple[Run, Client]:
        run = Run(dialect, clients=4, senders=senders, messages=messages, window=4, rooms=rooms)
        client: Client
        receive: Callable[[bytes], None]
        if dialect == "web":  # its WebSocket open: frames go straight to the skimmer
            client = web = WebClient(run, index, "localhost")
            receive = web._skim
        else:
            client = Client(run, index)
            receive = client.data_received
        client.registered.set_result(None)
        for chunk in chunks:
            receive(chunk)
        return run, client

    return asyncio.run(go())


def _failure(run: Run) -> str:
    if not run.failed.done():
        return ""
    error = run.failed.exception()
    assert isinstance(error, LoadError)
    return str(error)


DIALECTS: list[Dialect] = ["chat", "irc", "floor", "web"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_delivery_is_counted_whole_and_split_anywhere(
    dialect: Dialect, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = b"".join(_line(dialect, sender, seq) for seq in range(M) for sender in range(2))
    in_bulk: list[int] = []
    check = Client._deliveries

    def counted(client: Client, heads: list[bytes], now: int) -> bool:
        in_bulk.append(len(heads))
        return check(client, heads, now)

    monkeypatch.setattr(Client, "_deliveries", counted)
    splits = [[stream]] + [[stream[:at], stream[at:]] for at in range(1, len(stream), 7)]
    for chunks in splits:
        run, client = _feed(dialect, chunks)
        assert _failure(run) == ""
        assert client.next_seq == [M, M]
        assert len(run.latencies_ns) == 2 * M
        assert [list(counts) for counts in run.acks] == [[1] * M, [1] * M]
    assert in_bulk[0] == 2 * M  # the whole stream: one chunk, checked at once


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([(0, 0), (0, 0)], "got message 0 of sender 0, expected 1"),  # twice
        ([(0, 0), (0, 2)], "got message 2 of sender 0, expected 1"),  # one missing
        ([(1, 1)], "got message 1 of sender 1, expected 0"),  # out of order
        ([(3, 0)], "got message 0 of sender 3"),  # its own
    ],
)
def test_a_duplicate_a_gap_or_its_own_message_fails_the_run(
    dialect: Dialect, lines: list[tuple[int, int]], expected: str
) -> None:
    faults = b"".join(_line(dialect, s, q) for s, q in lines)
    run, _ = _feed(dialect, [faults], senders=4)
    assert expected in _failure(run)
    # The same after many good deliveries, in one chunk checked in bulk.
    good = b"".join(_line(dialect, 2, q) for q in range(M))
    run, client = _feed(dialect, [good + faults], senders=4)
    assert expected in _failure(run)
    assert client.next_seq[2] == M


@pytest.mark.parametrize("dialect", ["chat", "irc", "web"])
def test_a_message_of_another_room_fails_the_run(dialect: Dialect) -> None:
    # Clients 0 and 2 are in room 0, 1 and 3 in room 1.
    run, _ = _feed(dialect, [_line(dialect, 1, 0) + _line(dialect, 0, 0)], rooms=2)
    assert "got message 0 of sender 0" in _failure(run)


def test_server_chatter_between_deliveries_is_still_read() -> None:
    chunk = _line("chat", 0, 0) + b"[server] Error: nope\n" + _line("chat", 1, 0) + b"[server] b9 joined\n"
    run, client = _feed("chat", [chunk])
    assert _failure(run) == ""
    assert client.next_seq == [1, 1]
    assert run.server_errors == 1


def test_a_web_error_is_counted_once_wherever_the_reads_cut_it() -> None:
    error = b'\x81\x2c{"type":"error","code":"x","message":"nope"}'
    stream = _line("web", 0, 0) + error + _line("web", 1, 0) + error
    for at in range(1, len(stream)):
        run, client = _feed("web", [stream[:at], stream[at:]])
        assert _failure(run) == ""
        assert client.next_seq == [1, 1]
        assert run.server_errors == 2, at
