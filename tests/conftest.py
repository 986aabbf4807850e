"""Fixtures shared by the suites: the core's fake network, and test certificates."""

from __future__ import annotations

import pytest

from sansio_chat import ServerConfig
from tests.core_driver import OPER_PASSWORD, FakeNetwork
from tests.pki import Pki, make_pki

pytest_plugins = ["tests.coverage_gate"]


@pytest.fixture
def net() -> FakeNetwork:
    """A chat server with default limits and an operator password, on a fake network."""
    return FakeNetwork(ServerConfig(oper_password=OPER_PASSWORD))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate it issued for localhost, 127.0.0.1 and ::1 (once per run)."""
    return make_pki(tmp_path_factory.mktemp("pki"))
