"""Fixtures for cluster tests: a real redis-server on a free loopback port.

``redis_server`` is shared by a whole test session and flushed before each
test that asks for it; ``own_redis`` is a server of the test's own, for tests
that kill, restart or reconfigure it; ``module_redis`` is one for a test
module's tests alone, which share it (and nodes started on it) and may kill,
restart or reconfigure it.  Without ``redis-server`` installed,
these tests are skipped locally and fail in CI (``CI=true``), where it must be.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .redis_server import RedisServer, redis_server_path


def _require_redis() -> None:
    if redis_server_path() is None:
        message = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _running_in(directory: Path) -> Iterator[RedisServer]:
    """A redis-server for the fixture's life."""
    _require_redis()
    server = RedisServer(directory)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _session_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from _running_in(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis_server(_session_redis: RedisServer) -> RedisServer:
    """The session's redis-server, emptied for this test."""
    if not _session_redis.running:  # a test killed it: start a fresh one on the same port
        _session_redis.restart()
    _session_redis.flush()
    return _session_redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for this test alone: kill it, restart it, reconfigure it."""
    yield from _running_in(tmp_path)


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for one module's tests: they may kill, restart or reconfigure it."""
    yield from _running_in(tmp_path_factory.mktemp("redis"))
