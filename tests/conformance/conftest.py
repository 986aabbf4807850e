"""Fixtures: the server under test, started once per test for each backend."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence

import pytest

from adapters.cli import BACKENDS

from .server import ServerProcess

#: Every backend the command line offers: the whole suite runs against each one.
BACKEND_NAMES = tuple(BACKENDS)

StartServer = Callable[..., ServerProcess]


@pytest.fixture(scope="module", params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> str:
    """The CLI name of the backend under test."""
    name: str = request.param
    return name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def start_server(backend: str, request: pytest.FixtureRequest) -> Iterator[StartServer]:
    """Start servers with extra CLI arguments; each is stopped and checked after the test."""
    servers: list[ServerProcess] = []

    def start(
        *args: str, host: str = "127.0.0.1", wrapper: Sequence[str] = (), measure: bool = True
    ) -> ServerProcess:
        server = ServerProcess(backend, args, host=host, wrapper=wrapper, measure=measure)
        servers.append(server)
        return server

    yield start
    if request.node.stash.get(_FAILED, False):
        for server in servers:  # shown by pytest with the failure
            print(f"--- output of {server.command}:\n{server.output}")
    failures: list[str] = []
    for server in servers:
        try:
            server.stop()
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)


@pytest.fixture
def server(start_server: StartServer) -> ServerProcess:
    """A chat server with the default limits."""
    return start_server()
