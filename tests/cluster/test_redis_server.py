"""The redis-server fixture itself: restarts on the same port, empty or from a stale snapshot."""

from __future__ import annotations

import pytest

from . import conftest
from .redis_server import RedisServer


def test_a_restart_keeps_the_port_and_starts_empty(own_redis: RedisServer) -> None:
    port, pid = own_redis.port, own_redis.pid
    with own_redis.client() as client:
        assert client.call("SET", "k", "v") == b"OK"
    own_redis.restart()
    assert (own_redis.port, own_redis.running) == (port, True) and own_redis.pid != pid
    with own_redis.client() as client:
        assert client.call("DBSIZE") == 0


def test_a_restart_from_a_snapshot_brings_back_what_was_saved_and_only_that(own_redis: RedisServer) -> None:
    with own_redis.client() as client:
        assert client.call("SET", "saved", "1") == b"OK"
        own_redis.save_snapshot()
        assert client.call("SET", "after", "2") == b"OK"
    own_redis.restart(from_snapshot=True)
    with own_redis.client() as client:
        assert client.call("GET", "saved") == b"1"
        assert client.call("GET", "after") is None
    own_redis.kill()
    assert not own_redis.running


def test_without_redis_server_the_tests_skip_locally_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "redis_server_path", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        conftest._require_redis()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="redis-server is not installed"):
        conftest._require_redis()
