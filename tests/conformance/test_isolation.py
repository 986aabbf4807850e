"""A failure inside the core costs the connection it concerned, never the server, on every backend."""

from __future__ import annotations

from .failing_core import FAIL_AT_SHUTDOWN, FAIL_NEXT_TICK, FAIL_NOW
from .server import ServerProcess

LAUNCHER = "tests.conformance.failing_core"


def test_a_core_failure_drops_one_connection_and_the_server_goes_on(backend: str) -> None:
    server = ServerProcess(backend, launcher=LAUNCHER)
    try:
        a, b, x = server.join("guest1"), server.join("guest2"), server.join("guest3")
        a.ping_barrier()
        b.ping_barrier()
        x.send_line(f"PING {FAIL_NOW.decode()}")
        assert x.lines_until_closed() == []  # its reply was lost with the failure; then it was dropped
        for other in (a, b):  # told as for a reset
            assert other.ping_barrier() == ["[server] guest3 is disconnected"]

        a.send_line(f"PING {FAIL_NEXT_TICK.decode()}")
        a.ping_barrier()
        a.send_line("MSG after a failed tick")  # the tick before this read fails; the read is handled
        a.ping_barrier()
        assert b.ping_barrier() == ["[guest1] after a failed tick"]
        b.send_line("WHO")
        assert b.ping_barrier() == ["[server] Users (2): guest1 guest2"]

        a.send_line(f"PING {FAIL_AT_SHUTDOWN.decode()}")
        a.ping_barrier()
        for client in (a, b):
            client.send_line("QUIT")
            assert client.lines_until_closed()[-1].startswith("[server] Goodbye")
            client.close()
    finally:
        status = server.terminate()
    output = server.output
    assert status == 0, output
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert [line.partition(": ")[2] for line in errors] == [
        "connection 3: the core failed on DataReceived; dropping the connection",
        "the core failed on Tick; going on",
        "the core failed on ShutdownRequested; going on",
    ], output
    assert output.count("Traceback (most recent call last)") == 3, output
    assert output.count("RuntimeError: the core fails on purpose") == 3, output
