"""``--workers N``: one command, N processes on one machine, each a node of the cluster.

The parent opens every listener N times with ``SO_REUSEPORT`` (the kernel
spreads new connections over the workers; a port 0 is picked once), then
forks the workers: each serves with its own set of listeners, as a node of
its own (its node id suffixed ``-1``, ``-2``..., its own number), so users
of different workers meet through Redis like users of different machines.
The parent only supervises: SIGINT and SIGTERM go to every worker (a
second one cuts their goodbyes short, as for one server); when a worker
ends on its own, the others are stopped too; the exit status is 0 only if
every worker's is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from types import FrameType

from sansio_chat import MAX_NODE

from ._listeners import Listener, open_shared_listeners
from ._options import ServeOptions
from ._process import STOP_SIGNALS, tag_log_lines

log = logging.getLogger("sansio_chat.workers")


def run_workers(serve: Callable[[ServeOptions], int], options: ServeOptions, count: int) -> int:
    """Fork ``count`` workers running ``serve``; supervise them; return the group's exit status."""
    cluster = options.cluster
    if cluster is None:
        raise ValueError("workers are nodes of a cluster: options.cluster is needed")
    sets = open_shared_listeners(options.listen, count)
    numbers = _distinct_numbers(cluster.node_number, count)
    children: dict[int, int] = {}
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        for index in range(count):
            worker = replace(
                options,
                opened=tuple(sets[index]),
                config=replace(options.config, cluster_node=numbers[index]),
                cluster=replace(
                    cluster, node_id=f"{cluster.node_id}-{index + 1}", node_number=numbers[index]
                ),
            )
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                others = [listener for each in sets for listener in each if each is not sets[index]]
                _work(serve, worker, index + 1, others)
            children[pid] = index + 1
        for each in sets:
            for listener in each:
                listener.close()
        log.info("%d workers started (pids %s)", count, " ".join(map(str, children)))
        status = 0
        while children:
            pid, wait_status = os.waitpid(-1, 0)
            worker_index = children.pop(pid)  # (the workers are the parent's only children)
            code = os.waitstatus_to_exitcode(wait_status)
            if code:
                status = 1
            if not stopping:
                log.error("worker %d ended by itself (status %d): stopping the others", worker_index, code)
                stopping = True
                status = 1
                for other in children:
                    _signal(other, signal.SIGTERM)
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _work(
    serve: Callable[[ServeOptions], int], options: ServeOptions, number: int, others: list[Listener]
) -> None:
    """In worker ``number``: serve with its own listeners, then leave the process (never returns).

    Every line it logs says ``[worker N]``, N as in its node id (``-N``).
    """
    status = 1
    try:
        tag_log_lines(f"worker {number}")
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)  # until the backend takes them
        for listener in others:
            listener.close()
        status = serve(options)
    except BaseException:
        log.exception("worker failed")
    finally:
        logging.shutdown()
        os._exit(status)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # ended meanwhile: waitpid tells
        os.kill(pid, signum)


def _distinct_numbers(first: int, count: int) -> list[int]:
    """``count`` node numbers, distinct, starting from ``first``."""
    return [(first + index - 1) % MAX_NODE + 1 for index in range(count)]
