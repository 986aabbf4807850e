"""The installed command as an operator meets it: several listeners, and the errors it reports."""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess

import pytest

from .conftest import StartServer
from .installed import REPO_ROOT, installed_script
from .test_connections import needs_ipv6


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_script(), *argv],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_several_listeners_are_one_chat(start_server: StartServer) -> None:
    server = start_server("--listen", "text://127.0.0.1:0", "--listen", "text://localhost:0")
    assert [kind for kind, _, _ in server.listeners] == ["text", "text", "text"]
    ports = [port for _, _, port in server.listeners]
    assert len(set(ports)) == 3, server.listeners
    a = server.join("guest1", port=ports[0])
    b = server.join("guest2", port=ports[1])
    c = server.join("guest3", host="localhost", port=ports[2])
    assert a.ping_barrier() == ["[server] guest2 is connected", "[server] guest3 is connected"]
    c.send_line("MSG from the third listener")
    assert c.ping_barrier() == []
    assert a.ping_barrier() == ["[guest3] from the third listener"]
    assert b.ping_barrier() == ["[server] guest3 is connected", "[guest3] from the third listener"]


@needs_ipv6
def test_an_ipv6_listener_beside_an_ipv4_one(start_server: StartServer) -> None:
    server = start_server("--listen", "text://[::1]:0")
    (_, host4, port4), (_, host6, port6) = server.listeners
    assert (host4, host6) == ("127.0.0.1", "[::1]")
    a = server.join(port=port4)
    b = server.join(host="::1", port=port6)
    b.send_line("MSG over IPv6")
    assert b.ping_barrier() == []
    assert a.ping_barrier() == [f"[server] {b.name} is connected", "[guest2] over IPv6"]


def test_a_listener_that_cannot_open_is_one_line_and_status_1(backend: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(
            "serve", "--backend", backend, "--oper-password", "x", "--listen", f"text://127.0.0.1:{port}"
        )
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.endswith(f"cannot serve: [Errno 98] text://127.0.0.1:{port}: Address already in use"), line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--port", "70000"], "port must be from 0 to 65535, not 70000"),
        (["serve", "--backend", "threads", "--selector", "select"], "--selector is an option of the select"),
        (["serve", "--backend", "threads", "--loop", "uvloop"], "--loop is an option of the asyncio backend"),
        (["serve", "--listen", "txt://:1"], "unknown listener kind 'txt'"),
    ],
)
def test_a_bad_command_line_is_one_line_and_status_2(argv: list[str], message: str) -> None:
    result = _run(*argv)
    assert result.returncode == 2, result
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert message in line


def test_version() -> None:
    result = _run("--version")
    assert (result.returncode, result.stdout) == (
        0,
        f"sansio-chat {importlib.metadata.version('sansio-chat')}\n",
    )
