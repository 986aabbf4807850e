"""A real ``redis-server`` for tests: started on a free loopback port, stopped by its PID.

Persistence is off (``--save "" --appendonly no``): the cluster's state is
meant to be ephemeral.  A test that needs a stale snapshot takes one with
``save_snapshot()`` (the ``SAVE`` command) and restarts from it with
``restart(from_snapshot=True)``; ``restart()`` alone starts empty.  The port
stays the same across restarts, as it would for nodes configured with one URL.

``RedisClient`` is a blocking client for test set-up and assertions, built
from the same pieces as the link: commands encoded by ``encode_command``,
replies parsed by hiredis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import hiredis

from adapters.cluster import ErrorReply, RedisAddress, RespValue, encode_command

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
REPLY_TIMEOUT = 10.0
#: Attempts at finding a free port (another process may take the one we picked).
PORT_ATTEMPTS = 5


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisClient:
    """A blocking connection to Redis for tests; error replies come back as ``ErrorReply``."""

    def __init__(self, port: int, *, db: int = 0, timeout: float = REPLY_TIMEOUT) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._reader = hiredis.Reader(replyError=hiredis.ReplyError)
        if db:
            self.call("SELECT", db)

    def call(self, *args: bytes | str | int) -> RespValue:
        self._sock.sendall(encode_command(args))
        return self.read()

    def read(self) -> RespValue:
        """The next reply (or pushed message), waiting for it."""
        while (reply := self._reader.gets()) is False:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            self._reader.feed(data)
        return _value(reply)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RedisClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _value(reply: object) -> RespValue:
    if isinstance(reply, hiredis.ReplyError):
        return ErrorReply(str(reply))
    if isinstance(reply, list):
        return [_value(item) for item in reply]
    assert reply is None or isinstance(reply, bytes | int), reply
    return reply


class RedisServer:
    """One ``redis-server`` child process in its own directory."""

    def __init__(self, directory: Path) -> None:
        path = redis_server_path()
        assert path is not None, "redis-server is not installed"
        self.executable = path
        self.directory = directory
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = directory / "redis.log"
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            if self._start():
                return
        raise AssertionError(f"redis-server did not start:\n{self.log}")

    @property
    def address(self) -> RedisAddress:
        return RedisAddress(host="127.0.0.1", port=self.port)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "redis-server is not running"
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log(self) -> str:
        try:
            return self._log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, db: int = 0) -> RedisClient:
        return RedisClient(self.port, db=db)

    # -- life ---------------------------------------------------------------

    def _start(self) -> bool:
        """Start on ``self.port``; False if the port was taken meanwhile."""
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.directory),
            "--dbfilename",
            "dump.rdb",
            "--logfile",
            str(self._log),
        ]
        with open(os.devnull, "wb") as devnull:
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=devnull, stderr=devnull)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False  # e.g. the port was taken: "Address already in use"
            if self._answers_ping():
                return True
            time.sleep(0.02)  # polling for the process to listen, with a deadline
        self.kill()
        raise AssertionError(f"redis-server did not answer PING within {START_TIMEOUT} s:\n{self.log}")

    def _answers_ping(self) -> bool:
        try:
            with RedisClient(self.port, timeout=1.0) as client:
                return client.call("PING") == b"PONG"
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM and wait (Redis saves nothing: persistence is off)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL and wait: what ``kill -9`` does."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None

    def restart(self, *, from_snapshot: bool = False) -> None:
        """Kill and start again on the same port: empty, or from the last ``save_snapshot``."""
        self.kill()
        if not from_snapshot:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / "dump.rdb").unlink()
        if not self._start():
            raise AssertionError(f"redis-server did not restart on port {self.port}:\n{self.log}")

    def save_snapshot(self) -> None:
        """Write the current data to ``dump.rdb`` (loaded by ``restart(from_snapshot=True)``)."""
        with self.client() as client:
            assert client.call("SAVE") == b"OK"

    def flush(self) -> None:
        """Forget every key and script (a test's clean slate on a shared server)."""
        with self.client() as client:
            assert client.call("FLUSHALL") == b"OK"
            assert client.call("SCRIPT", "FLUSH") == b"OK"
