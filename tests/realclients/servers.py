"""IRC servers the real clients are run against, each behind the same small interface.

A server factory is a context manager that starts a server on loopback and
yields an ``IRCServer``: where to connect, and the text of its welcome
(001) reply, which a client shows once it is registered.  miniircd (from
PyPI) validates the harness; sansio-chat's own IRC listener runs every
scenario unchanged, on each backend, and also offers a text listener for
the scenarios whose peer is a text client.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from adapters.cli import BACKENDS
from tests.conformance.server import ServerProcess

HOST = "127.0.0.1"
START_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IRCServer:
    host: str
    port: int
    #: Part of the server's 001 text: on a client's screen once it is registered.
    welcome: str
    #: Where text clients connect, for a server that has them too (sansio-chat).
    text_port: int | None = None


ServerFactory = Callable[[Path], contextlib.AbstractContextManager[IRCServer]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_connectable(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server is not accepting on port {port}") from None
            time.sleep(0.05)


@contextlib.contextmanager
def miniircd(workdir: Path) -> Iterator[IRCServer]:
    """miniircd on a free loopback port (it cannot be told to pick one itself)."""
    port = _free_port()
    log = workdir / "miniircd.log"
    # miniircd refuses to run as root unless told to stay root.
    user = ["--setuid", "root"] if os.getuid() == 0 else []
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "miniircd", "--listen", HOST, "--ports", str(port), *user],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        _wait_connectable(process, port, log)
        yield IRCServer(host=HOST, port=port, welcome="Hi, welcome to IRC")
    finally:
        process.kill()
        process.wait(10)


def miniircd_installed() -> bool:
    return importlib.util.find_spec("miniircd") is not None


@contextlib.contextmanager
def sansio_chat(backend: str, workdir: Path) -> Iterator[IRCServer]:
    """sansio-chat (the installed command) with an IRC and a text listener on free loopback ports."""
    server = ServerProcess(backend, ("--listen", f"irc://{HOST}:0", "--server-name", "irc.test"), host=HOST)
    try:
        irc_port = next(port for kind, _, port in server.listeners if kind == "irc")
        yield IRCServer(
            host=HOST, port=irc_port, welcome="Welcome to the sansio-chat IRC network", text_port=server.port
        )
    finally:
        server.stop()  # and checks a clean exit: status 0, no traceback


def always() -> bool:
    return True


#: sansio-chat on each backend.
SANSIO_CHAT: dict[str, tuple[ServerFactory, Callable[[], bool]]] = {
    f"sansio-chat-{backend}": (functools.partial(sansio_chat, backend), always) for backend in BACKENDS
}
#: Every server the scenarios run against, and whether it can run here.
SERVERS: dict[str, tuple[ServerFactory, Callable[[], bool]]] = {
    "miniircd": (miniircd, miniircd_installed),
    **SANSIO_CHAT,
}
