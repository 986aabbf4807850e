"""Fixtures for the core's tests (the conformance suite keeps its own)."""

from __future__ import annotations

import pytest

from sansio_chat import ServerConfig
from tests.core_driver import OPER_PASSWORD, FakeNetwork

pytest_plugins = ["tests.coverage_gate"]


@pytest.fixture
def net() -> FakeNetwork:
    """A chat server with default limits and an operator password, on a fake network."""
    return FakeNetwork(ServerConfig(oper_password=OPER_PASSWORD))
