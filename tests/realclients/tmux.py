"""A terminal program in a detached tmux session: type into it, read its screen, wait for text.

Each ``TmuxPane`` runs its own tmux server on a private socket (``tmux -S``)
with no configuration file, so it never touches a user's tmux and closing it
kills everything it started.  Waiting is polling the screen against a
deadline: nothing sleeps for a fixed time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Default bound on one wait for the screen, in seconds.
WAIT_TIMEOUT = 10.0
#: How often the screen is read while waiting.
POLL_SECONDS = 0.05
#: How long a program may take to exit once its terminal is gone.
CLOSE_TIMEOUT = 5.0
#: A wide screen, so that chat lines do not wrap.
WIDTH, HEIGHT = 220, 50


class ScreenTimeoutError(AssertionError):
    """The awaited text did not show up in time; the message holds the last screen."""


class TmuxPane:
    """``argv`` running in a detached tmux session on a private tmux server."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str]) -> None:
        self.argv = list(argv)
        self.pid: int | None = None
        self._socket_dir = _short_temp_dir()
        self.socket = self._socket_dir / "s"
        base = {name: value for name, value in os.environ.items() if name in ("PATH", "TMPDIR")}
        self._env = {**base, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **env}
        try:
            # The pane stays after the program exits, so its last screen can still be read.
            self._tmux(
                "new-session", "-d", "-s", "main", "-x", str(WIDTH), "-y", str(HEIGHT), "--", *self.argv,
                ";", "set-option", "-g", "remain-on-exit", "on",
            )  # fmt: skip
            self.pid = int(self._tmux("display-message", "-p", "-t", "main", "#{pane_pid}"))
        except BaseException:
            self.close()
            raise

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-u", "-f", "/dev/null", "-S", str(self.socket), *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def type(self, text: str) -> None:
        """Type ``text`` literally, then Enter."""
        self._tmux("send-keys", "-t", "main", "-l", text)
        self._tmux("send-keys", "-t", "main", "Enter")

    def screen(self) -> str:
        """What the terminal shows now, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "main")

    def exited(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "main", "#{pane_dead}").strip() == "1"

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = WAIT_TIMEOUT) -> re.Match[str]:
        """Poll the screen until ``pattern`` (a regex, searched line by line) shows up."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            for line in screen.splitlines():
                match = regex.search(line)
                if match:
                    return match
            if time.monotonic() > deadline:
                state = " (the program has exited)" if self.exited() else ""
                raise ScreenTimeoutError(
                    f"{self.argv[0]}: no {regex.pattern!r} on screen after {timeout:.0f}s{state}:\n{screen}"
                )
            time.sleep(POLL_SECONDS)

    def wait_for_line(self, *fragments: str, timeout: float = WAIT_TIMEOUT) -> str:
        """Wait for a screen line holding ``fragments`` in this order; return the line."""
        pattern = ".*".join(re.escape(fragment) for fragment in fragments)
        return self.wait_for(re.compile(f".*{pattern}.*"), timeout)[0]

    def close(self) -> None:
        """Kill the tmux server, which hangs up on the program; SIGKILL it if it lingers."""
        if self.socket.exists():
            subprocess.run(
                ["tmux", "-f", "/dev/null", "-S", str(self.socket), "kill-server"],
                env=self._env,
                capture_output=True,
                timeout=10,
                check=False,
            )
        shutil.rmtree(self._socket_dir, ignore_errors=True)
        pid, self.pid = self.pid, None
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while pid is not None and _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(POLL_SECONDS)


def _short_temp_dir() -> Path:
    """A new private directory with a short path: a Unix socket path is limited to ~100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="tmux-"))
    if len(str(path)) > 60 and Path("/tmp").is_dir():
        path.rmdir()
        path = Path(tempfile.mkdtemp(prefix="tmux-", dir="/tmp"))
    return path


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
