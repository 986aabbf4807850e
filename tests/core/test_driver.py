"""The in-memory driver itself: its contract checks must be able to fail."""

from __future__ import annotations

import pytest

from sansio_chat import (
    Abort,
    Action,
    Close,
    ConnectionOpened,
    Event,
    PauseReading,
    ResumeReading,
    Send,
    ServerState,
)
from tests.core_driver import ContractError, FakeNetwork


class Scripted(ServerState):
    """A server state that answers each event with the next scripted actions."""

    def __init__(self, *script: list[Action], wakeup: float | None = None) -> None:
        super().__init__()
        self.script = list(script)
        self.wakeup = wakeup

    def receive(self, event: Event) -> list[Action]:
        return self.script.pop(0) if self.script else []

    @property
    def next_wakeup(self) -> float | None:
        return self.wakeup


def scripted(*script: list[Action], wakeup: float | None = None) -> FakeNetwork:
    return FakeNetwork(state=Scripted(*script, wakeup=wakeup))


@pytest.mark.parametrize(
    "script",
    [
        [[Close(conn=1)], [Send(conns=(1,), data=b"x")]],
        [[Close(conn=1)], [Close(conn=1)]],
        [[Abort(conn=1)], [Close(conn=1)]],
        [[Close(conn=1)], [PauseReading(conn=1)]],
        [[ResumeReading(conn=1)]],
        [[PauseReading(conn=1), PauseReading(conn=1)]],
        [[Send(conns=(1, 1), data=b"x")]],
        [[Send(conns=(7,), data=b"x")]],
    ],
)
def test_the_driver_refuses_what_no_backend_can_do(script: list[list[Action]]) -> None:
    net = scripted(*script)
    with pytest.raises(ContractError):
        net.connect()
        net.clients[1].send("x")


def test_the_driver_refuses_a_reused_connection_id() -> None:
    net = scripted()
    net.connect()
    with pytest.raises(ContractError):
        net.receive(ConnectionOpened(conn=1, peer="again"))


def test_close_delivers_the_queue_and_abort_discards_it() -> None:
    net = FakeNetwork(state=Scripted([], [], [Send(conns=(1, 2), data=b"x\n"), Close(conn=1), Abort(conn=2)]))
    net.auto_flush = False
    first, second = net.connect(), net.connect()
    first.auto_flush = second.auto_flush = False
    first.send("go")
    assert first.received == b"x\n" and first.closed and not first.aborted
    assert second.received == b"" and second.aborted


def test_what_is_typed_while_paused_arrives_on_resume() -> None:
    state = Scripted([PauseReading(conn=1)], [ResumeReading(conn=1)])
    net = FakeNetwork(state=state)
    client = net.connect()
    assert client.paused
    assert client.send("held") == []
    assert client.typed_while_paused
    net.tick(1.0)  # the scripted state resumes on this tick
    assert not client.paused and not client.typed_while_paused


def test_run_timers_fails_on_a_core_that_never_stops_waiting() -> None:
    net = scripted(wakeup=5.0)
    with pytest.raises(ContractError):
        net.run_timers()


def test_auto_tick_fails_on_a_core_that_never_stops_waiting() -> None:
    net = FakeNetwork(state=Scripted(wakeup=5.0), auto_tick=True)
    with pytest.raises(ContractError):
        net.connect()
