"""Fixtures of the stress suite: the conformance suite's servers, swarms of clients, heavy runs opt-in.

The servers come from the conformance suite's fixtures (``backend``,
parametrized over the three backends, and ``start_server``, which stops each
server after the test and checks a clean exit: status 0, no traceback).

Tests marked ``heavy`` (10,000 connections) are left out unless ``-m`` is
given, e.g. ``python -m pytest tests/stress -m heavy``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conformance.conftest import (  # noqa: F401 - fixtures and the hook that shows server output
    StartServer,
    backend,
    pytest_runtest_makereport,
    start_server,
)
from tests.conformance.server import ServerProcess

from .swarm import Swarm

MakeSwarm = Callable[[ServerProcess], Swarm]
Figures = Callable[[str], None]

_FIGURES = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``heavy`` tests unless a marker expression was given with ``-m``."""
    if config.getoption("markexpr"):
        return
    heavy = [item for item in items if item.get_closest_marker("heavy") is not None]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if item.get_closest_marker("heavy") is None]


@pytest.fixture
def make_swarm(request: pytest.FixtureRequest) -> Iterator[MakeSwarm]:
    """Swarms of clients of a server; their sockets are closed before the server is stopped."""
    start: StartServer = request.getfixturevalue("start_server")  # set up first, so torn down last
    del start
    swarms: list[Swarm] = []

    def make(server: ServerProcess) -> Swarm:
        swarm = Swarm(server.host, server.port)
        swarms.append(swarm)
        return swarm

    yield make
    for swarm in swarms:
        swarm.close_all()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """Record a measured figure; all of them are printed at the end of the run."""
    stash = request.config.stash.setdefault(_FIGURES, [])

    def record(text: str) -> None:
        stash.append(f"{request.node.name}: {text}")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("stress figures")
        for line in lines:
            terminalreporter.write_line(line)
