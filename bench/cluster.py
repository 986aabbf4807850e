"""The cluster under load: a lone server, N nodes over one Redis, or one command with ``--workers N``.

``python -m bench.cluster --nodes 2 --shape 100x10`` starts a redis-server
and two nodes (``serve --cluster``, each on its own port), then runs the load
generator with its clients spread over the nodes (``--ports``: client i on
node i mod N, so most deliveries cross Redis) and the CPU time of every node
and of Redis summed (``--server-pid`` for each).  ``--nodes 0`` is the same
load on one server without ``--cluster``, the baseline the cluster's cost is
compared with; ``--workers N`` runs one ``serve --cluster --workers N``
command (its workers share one port; the kernel spreads the clients).  One
JSON line per run on stdout, a summary on stderr.

``--compare`` runs several setups side by side instead, alternating them
repetition by repetition (``--repeat``), and prints each one's medians and
its CPU per delivery against the first setup's (the lone server).  With
``--load F`` every run is an open loop at the SAME offered rate: F times
the saturation rate, which a closed-loop run of the 2-node cluster measures
first (or ``--rate``); without it every run is closed-loop, at full speed.
``python -m bench.cluster --compare --shape 100x10 --load 0.5`` is the
cluster's speed target: CPU per delivery and cross-node p99 at half load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._proc import LISTENING, free_port
from .servers import HOST, ROOT

#: How long a node may take to listen and join its cluster.
START_TIMEOUT = 20.0
#: The load shapes: clients, senders, messages per sender.
SHAPES = {"10x10": (10, 10, 2000), "100x10": (100, 10, 1000), "1000x10": (1000, 10, 100)}


class Processes:
    """Everything one run started, stopped (killed: shutdown is not measured) when it ends."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        self.started.append(process)
        return process, log

    def stop(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)


def _wait_for(log: Path, process: subprocess.Popen[bytes], needle: bytes, count: int = 1) -> bytes:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_bytes()
        if text.count(needle) >= count:
            return text
        if process.poll() is not None:
            raise SystemExit(f"{log.name}: exited with {process.returncode}: {text[-400:]!r}")
        time.sleep(0.05)
    raise SystemExit(f"{log.name}: no {needle!r} within {START_TIMEOUT:.0f} s")


def _serve(args: argparse.Namespace, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "sansio_chat_adapters.cli", "serve", "--backend", args.backend,
        "--rate-lines", "0", "--oper-password", "bench", "--flush-delay", str(args.flush_delay), *extra,
    ]  # fmt: skip


def _descendants(pid: int) -> list[int]:
    """``pid``'s children (the workers of ``--workers``), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


@contextlib.contextmanager
def cluster(args: argparse.Namespace, logs: Path) -> Iterator[tuple[list[int], list[int]]]:
    """Start what the run measures: (ports to spread the clients over, pids whose CPU is summed)."""
    processes = Processes(logs)
    try:
        if args.nodes == 0 and args.workers == 0:
            node, log = processes.start("server", _serve(args, "--listen", f"text://{HOST}:0"))
            port = int(LISTENING.findall(_wait_for(log, node, b"listening on"))[0][1])
            yield [port], [node.pid]
            return
        redis_bin = shutil.which("redis-server")
        if redis_bin is None:
            raise SystemExit("redis-server is not installed")
        redis_port = free_port(HOST)
        redis, log = processes.start(
            "redis",
            [redis_bin, "--port", str(redis_port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        )
        _wait_for(log, redis, b"Ready to accept connections")
        url = f"redis://{HOST}:{redis_port}"
        if args.workers:
            port = free_port(HOST)
            argv = _serve(args, "--listen", f"text://{HOST}:{port}", "--cluster", url, "--workers")
            parent, log = processes.start("workers", [*argv, str(args.workers), "--node-id", "w"])
            _wait_for(log, parent, b"joined (epoch", args.workers)
            yield [port], [parent.pid, *_descendants(parent.pid), redis.pid]
            return
        ports, pids = [], []
        for number in range(1, args.nodes + 1):
            argv = _serve(args, "--listen", f"text://{HOST}:0", "--cluster", url)
            node, log = processes.start(f"node{number}", [*argv, "--node-id", f"n{number}"])
            text = _wait_for(log, node, b"joined (epoch")
            ports.append(int(LISTENING.findall(text)[0][1]))
            pids.append(node.pid)
        yield ports, [*pids, redis.pid]
    finally:
        processes.stop()


def run(args: argparse.Namespace, rate: float = 0.0) -> dict[str, object]:
    """One run of the load generator against ``args.nodes`` or ``args.workers`` (closed loop, or ``rate``)."""
    clients, senders, messages = SHAPES[args.shape]
    messages = args.messages or messages
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        logs = Path(scratch)
        with cluster(args, logs) as (ports, pids):
            argv = [
                sys.executable, "-m", "bench.loadgen", "--host", HOST,
                "--ports", ",".join(map(str, ports)), "--clients", str(clients), "--senders", str(senders),
                "--messages", str(messages), "--linger", "0",
            ]  # fmt: skip
            if rate:
                argv += ["--rate", f"{rate:.3f}"]
            for pid in pids:
                argv += ["--server-pid", str(pid)]
            limit = 300 + (senders * messages / rate if rate else 0)
            done = subprocess.run(
                argv, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, timeout=limit, check=False
            )
    lines = done.stdout.decode().strip().splitlines()
    if not lines:
        raise SystemExit(f"the load generator said nothing: {done.stderr.decode()[-400:]}")
    result: dict[str, object] = json.loads(lines[-1])
    result.update(nodes=args.nodes, workers=args.workers, backend=args.backend, shape=args.shape)
    return result


#: A setup of ``--compare``: ``server`` (no --cluster), ``nodesN`` (N commands), ``workersN`` (one command).
SETUP = re.compile(r"server|nodes([1-9][0-9]*)|workers([1-9][0-9]*)")


def _setups(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if not SETUP.fullmatch(name)]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"setups are server, nodesN or workersN, not {', '.join(bad)}")
    return names


def _for_setup(args: argparse.Namespace, setup: str) -> argparse.Namespace:
    match = SETUP.fullmatch(setup)
    assert match is not None
    nodes, workers = (int(number) if number else 0 for number in match.groups())
    return argparse.Namespace(**{**vars(args), "nodes": nodes, "workers": workers})


def _number(result: dict[str, object], key: str) -> float:
    value = result[key]
    assert isinstance(value, int | float)
    return float(value)


def compare(args: argparse.Namespace) -> int:
    """Every setup at one load, alternating, ``args.repeat`` times; a table of medians on stderr."""
    rate = args.rate
    if args.load and not rate:
        # At least the shape's own number of messages: a run of a second or so varies too much.
        longer = max(args.messages, SHAPES[args.shape][2])
        calibrate = _for_setup(args, args.calibrate)
        calibrate.messages = longer
        calibration = run(calibrate)
        print(json.dumps({**calibration, "setup": args.calibrate, "calibration": True}), flush=True)
        if not calibration.get("ok"):
            print(f"calibration failed: {calibration.get('error')}", file=sys.stderr)
            return 1
        saturation = _number(calibration, "messages_per_s")
        rate = args.load * saturation
        print(
            f"saturation ({args.calibrate}, closed loop): {saturation:,.0f} messages/s;"
            f" offered at load {args.load:g}: {rate:,.0f} messages/s",
            file=sys.stderr,
        )
    results: dict[str, list[dict[str, object]]] = {setup: [] for setup in args.setups}
    for repetition in range(args.repeat):
        for setup in args.setups:
            result = run(_for_setup(args, setup), rate)
            result.update(setup=setup, repetition=repetition)
            print(json.dumps(result), flush=True)
            if not result.get("ok"):
                print(f"{setup}: failed: {result.get('error')}", file=sys.stderr)
                return 1
            results[setup].append(result)
    print(_table(args, rate, results), file=sys.stderr)
    return 0


def _table(args: argparse.Namespace, rate: float, results: dict[str, list[dict[str, object]]]) -> str:
    """Medians per setup; the CPU ratio is the median of each repetition's ratio to the first setup.

    "Generator late": how far behind its schedule the generator sent (open
    loop).  Latencies count from the schedule, so when the generator itself
    cannot keep up (it shares the machine), its lateness is in them too.
    "Waited for a CPU": each time a thread of the servers (nodes and Redis)
    or of the generator was woken, how long on average it stayed runnable
    before a core was free for it.  A message crosses several processes (the
    generator, a node, Redis, every node, the generator), each wake-up may
    wait, and none of that is the server's work.
    """
    load = f"{rate:,.0f} messages/s offered (open loop)" if rate else "closed loop, W = 4"
    lines = [
        f"{args.shape}, {args.backend}, {load}, medians of {args.repeat}:",
        "| setup | deliveries/s | p50 ms | p99 ms | cross-node p99 ms | generator late p99 ms"
        " | waited for a CPU µs/wake-up: servers, generator | CPU µs/delivery | ratio |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    base = results[args.setups[0]]
    for setup, runs in results.items():

        def median(key: str, runs: Sequence[dict[str, object]] = runs) -> float:
            return statistics.median(_number(result, key) for result in runs)

        ratios = [
            _number(mine, "server_cpu_us_per_delivery") / _number(theirs, "server_cpu_us_per_delivery")
            for mine, theirs in zip(runs, base, strict=True)
        ]
        cross = f"{median('cross_p99_us') / 1000:.2f}" if median("cross_deliveries") else "-"
        late = f"{median('send_lag_p99_us') / 1000:.2f}" if rate else "-"
        waits = f"{_wait_per_wakeup(runs, 'server'):.0f}, {_wait_per_wakeup(runs, 'loadgen'):.0f}"
        lines.append(
            f"| {setup} | {median('deliveries_per_s'):,.0f} | {median('p50_us') / 1000:.2f}"
            f" | {median('p99_us') / 1000:.2f} | {cross} | {late} | {waits}"
            f" | {median('server_cpu_us_per_delivery'):.2f}"
            f" | {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |"
        )
    return "\n".join(lines)


def _wait_per_wakeup(runs: Sequence[dict[str, object]], who: str) -> float:
    """Median over ``runs`` of ``who``'s (server or loadgen) mean run-queue wait per wake-up, in µs."""
    return statistics.median(
        _number(result, f"{who}_wait_s") * 1e6 / max(1.0, _number(result, f"{who}_slices")) for result in runs
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["select", "threads", "asyncio"], default="select")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--nodes", type=int, default=0, help="nodes, each its own command (0: no cluster)")
    group.add_argument("--workers", type=int, default=0, help="one command with --workers N instead")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="100x10")
    parser.add_argument("--messages", type=int, default=0, help="per sender (default: the shape's)")
    parser.add_argument("--flush-delay", type=float, default=0.0, help="every server's --flush-delay")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: messages/s over all senders")
    side = parser.add_argument_group("side by side (--compare)")
    side.add_argument("--compare", action="store_true", help="run --setups side by side, alternating")
    side.add_argument(
        "--setups",
        type=_setups,
        default=["server", "nodes2"],
        help="server, nodesN, workersN; the first is the base",
    )
    side.add_argument("--repeat", type=int, default=3, help="repetitions of each setup")
    side.add_argument("--load", type=float, default=0.0, help="open loop at this fraction of saturation")
    side.add_argument(
        "--calibrate",
        default="nodes2",
        type=lambda text: _setups(text)[0],
        help="whose closed loop is saturation",
    )
    args = parser.parse_args(argv)
    if args.compare:
        if args.nodes or args.workers:
            parser.error("--compare takes --setups, not --nodes or --workers")
        return compare(args)
    result = run(args, args.rate)
    print(json.dumps(result))
    if not result.get("ok"):
        print(f"failed: {result.get('error')}", file=sys.stderr)
        return 1
    what = (
        f"{args.workers} workers" if args.workers else f"{args.nodes} nodes" if args.nodes else "one server"
    )
    cross_p99 = _number(result, "cross_p99_us") / 1000
    cross = f" cross-node p99 {cross_p99:.2f} ms," if _number(result, "cross_deliveries") else ""
    print(
        f"{what} ({args.backend}), {args.shape}: {result['deliveries_per_s']:,.0f} deliveries/s,"
        f" p50 {_number(result, 'p50_us') / 1000:.2f} ms, p99 {_number(result, 'p99_us') / 1000:.2f} ms,"
        f"{cross} {_number(result, 'server_cpu_us_per_delivery'):.2f} µs CPU/delivery (nodes and Redis)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
