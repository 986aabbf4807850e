"""IRC servers the real clients are run against, each behind the same small interface.

A server factory is a context manager that starts a server on loopback and
yields an ``IRCServer``: where to connect, and the text of its welcome
(001) reply, which a client shows once it is registered.  miniircd (from
PyPI) validates the harness; sansio-chat's own IRC listener is added here
as another factory once it exists, and every scenario runs against it
unchanged.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IRCServer:
    host: str
    port: int
    #: Part of the server's 001 text: on a client's screen once it is registered.
    welcome: str


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


#: Every server the scenarios run against, and whether it can run here.
SERVERS: dict[str, tuple[ServerFactory, Callable[[], bool]]] = {
    "miniircd": (miniircd, miniircd_installed),
}
