"""Fixtures for real IRC clients: each scenario runs for every client against every server.

The programs (tmux, irssi, WeeChat) and miniircd may be missing on a
developer's machine: their tests are then skipped.  In CI (``CI=true``) a
missing one is a failure instead, so that the suite cannot pass by skipping
them.  Test modules here carry the ``realclients`` marker: ``-m "not realclients
and not heavy"`` leaves them out (any ``-m`` also lifts the stress suite's default
exclusion of ``heavy`` tests, hence the second half).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .peer import IRCPeer
from .programs import CLIENTS, RealClient
from .servers import SERVERS, IRCServer

MakeClient = Callable[[str], RealClient]
MakePeer = Callable[[str], IRCPeer]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realclients: real IRC clients (irssi, WeeChat) under tmux")


def require(available: bool, what: str) -> None:
    """Skip without ``what``; in CI, fail."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{what} is not installed")


@pytest.fixture(params=sorted(SERVERS))
def irc_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IRCServer]:
    """A fresh IRC server on loopback, one per test."""
    factory, installed = SERVERS[request.param]
    require(installed(), request.param)
    workdir = tmp_path / "server"
    workdir.mkdir()
    with factory(workdir) as server:
        yield server


@pytest.fixture(params=sorted(CLIENTS))
def make_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeClient]:
    """Start the client under test (irssi or WeeChat) with a nick; closed after the test."""
    kind = CLIENTS[request.param]
    require(shutil.which("tmux") is not None, "tmux")
    require(kind.installed(), kind.executable)
    started: list[RealClient] = []

    def make(nick: str) -> RealClient:
        client = kind(tmp_path / f"{kind.name}-{nick}", nick)
        started.append(client)
        return client

    yield make
    for client in started:
        client.close()


@pytest.fixture
def make_peer(irc_server: IRCServer) -> Iterator[MakePeer]:
    """Raw-socket IRC clients, registered under a nick; closed after the test."""
    peers: list[IRCPeer] = []

    def make(nick: str) -> IRCPeer:
        peer = IRCPeer(irc_server.host, irc_server.port, nick)
        peers.append(peer)
        peer.register()
        return peer

    yield make
    for peer in peers:
        peer.close()
