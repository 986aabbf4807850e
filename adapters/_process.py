"""What a backend asks of the process: signals, a wake-up socket, descriptors, memory.

SIGINT and SIGTERM mean the same on every backend (``_lifecycle.Stop``: the
first drains, a second ends the drain), and so does SIGHUP (``Reload``: read
the TLS certificate again, ``Driver.reload_certificates``).  The select and
threads backends catch them with ``catch_stop_signals``; the asyncio backend
registers the same handlers with its event loop.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import FrameType

from sansio_chat import ServerConfig

from ._lifecycle import Stop

#: The signals that stop the server.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: The signal that has the server read its TLS certificate and key again (they were renewed).
RELOAD_SIGNAL = signal.SIGHUP
#: Descriptors kept aside from ``max_clients``: listeners, wake-up sockets, the selector.
SPARE_DESCRIPTORS = 32


def log_format(tag: str = "") -> str:
    """A log line: when, how bad, whose (``[tag]``, if any), which logger, what."""
    whose = f"[{tag}] " if tag else ""
    return f"%(asctime)s %(levelname)s {whose}%(name)s: %(message)s"


#: The log line of a server alone (or of the parent of ``--workers``).
LOG_FORMAT = log_format()


def tag_log_lines(tag: str) -> None:
    """Put ``[tag]`` before the logger's name in every line this process logs from now on.

    The workers of ``--workers`` write to one stderr: without it, their
    lines could not be told apart.
    """
    formatter = logging.Formatter(log_format(tag))
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


class Wakeup:
    """A socket pair that makes a ``select`` return: written by a signal, another thread, or anyone."""

    __slots__ = ("reader", "writer")

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        for sock in (self.reader, self.writer):
            sock.setblocking(False)

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake-up is pending already
            self.writer.send(b"\0")

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            while self.reader.recv(4096):
                pass

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


class Reload:
    """SIGHUP as the server sees it: asked for by the signal handler, taken once by the loop.

    The handler only counts; the loop compares with what it has taken, so a
    signal that comes while the loop takes one is not lost (each side writes
    its own counter).
    """

    __slots__ = ("_asked", "_taken")

    def __init__(self) -> None:
        self._asked = 0
        self._taken = 0

    def ask(self) -> None:
        self._asked += 1

    def take(self) -> bool:
        """Whether a reload was asked for since the last call."""
        asked = self._asked
        if asked == self._taken:
            return False
        self._taken = asked
        return True


@contextlib.contextmanager
def catch_stop_signals(stop: Stop, wakeup: Wakeup, reload: Reload | None = None) -> Iterator[None]:
    """While inside: SIGINT and SIGTERM count on ``stop``, SIGHUP on ``reload``; each wakes ``wakeup``.

    The handler only counts (it runs between two bytecodes of the main
    thread, wherever that is); ``signal.set_wakeup_fd`` writes to the wake-up
    socket so that the loop's ``select`` returns and looks at ``stop``.
    Outside the main thread, where Python cannot take signals, this does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.signal()

    def on_reload(signum: int, frame: FrameType | None) -> None:
        if reload is not None:
            reload.ask()

    previous_fd = signal.set_wakeup_fd(wakeup.writer.fileno(), warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    previous[RELOAD_SIGNAL] = signal.signal(RELOAD_SIGNAL, on_reload)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def raise_open_files_limit(config: ServerConfig, log: logging.Logger) -> ServerConfig:
    """Raise the soft open-files limit to the hard one; cap ``max_clients`` if still short.

    Each client costs one descriptor (a few are kept aside); when the limit
    cannot cover ``max_clients``, say so and lower it, so that the server
    refuses politely instead of failing to accept.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.debug("could not raise the open-files limit: %s", exc)
    room = soft - SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and room < config.max_clients:
        log.warning(
            "open-files limit %d caps max-clients at %d (asked for %d)",
            soft,
            max(room, 1),
            config.max_clients,
        )
        return replace(config, max_clients=max(room, 1))
    return config


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes  # noqa: PLC0415 - only where the C library has malloc_trim

        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, ImportError):
        return None
    return trim


_malloc_trim = _find_malloc_trim()


def release_free_memory() -> None:
    """Hand memory freed after a burst back to the OS (glibc's ``malloc_trim``; elsewhere a no-op)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
