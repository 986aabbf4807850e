"""A test-only launcher: the real command line, with a core that fails on purpose.

``python -m tests.conformance.failing_core serve ...`` runs the server as
``sansio-chat serve ...`` does, except that the driver's core is wrapped so
that it raises where a line asks it to:

- a read holding ``FAIL_NOW``: the core handles it, then raises (its state has
  moved on, its actions are lost: the harshest kind of failure);
- a read holding ``FAIL_NEXT_TICK``: the next ``Tick`` raises;
- a read holding ``FAIL_AT_SHUTDOWN``: ``ShutdownRequested`` raises.

Nothing of this is in the package: the failure isolation under test is the
driver's ordinary code.
"""

from __future__ import annotations

import sys
from typing import Any

from adapters import _driver, cli
from sansio_chat import (
    Action,
    DataReceived,
    Event,
    ServerConfig,
    ServerState,
    ShutdownRequested,
    Tick,
    new_server_state,
)

FAIL_NOW = b"*fail now*"
FAIL_NEXT_TICK = b"*fail at the next tick*"
FAIL_AT_SHUTDOWN = b"*fail at shutdown*"


class FailingCore:
    """The real server state, failing where asked."""

    def __init__(self, inner: ServerState) -> None:
        self._inner = inner
        self._tick_fails = False
        self._shutdown_fails = False

    def receive(self, event: Event) -> list[Action]:
        if isinstance(event, DataReceived):
            self._tick_fails |= FAIL_NEXT_TICK in event.data
            self._shutdown_fails |= FAIL_AT_SHUTDOWN in event.data
            if FAIL_NOW in event.data:
                self._inner.receive(event)
                raise RuntimeError("the core fails on purpose")
        elif isinstance(event, Tick) and self._tick_fails:
            self._tick_fails = False
            raise RuntimeError("the core fails on purpose, on a tick")
        elif isinstance(event, ShutdownRequested) and self._shutdown_fails:
            raise RuntimeError("the core fails on purpose, at shutdown")
        return self._inner.receive(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _failing_state(config: ServerConfig) -> Any:
    return FailingCore(new_server_state(config))


vars(_driver)["new_server_state"] = _failing_state  # what the driver builds its core with

if __name__ == "__main__":
    sys.exit(cli.main())
