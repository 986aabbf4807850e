"""Runs every server on every shape, alternating, and summarises medians and ratios."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._proc import Pinning, pinned
from ._tls import TlsFiles, make_tls_files
from .servers import FLOOR_OF, HOST, ROOT, SERVERS, RunningServer, ServerSpec, StartError

RESULTS_DIR = ROOT / "bench" / "results"


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """N clients of which K send M messages each with a window of W; K = 0 is an idle RSS run.

    With R rooms, client i is in room i mod R and a message reaches the others of its room
    (one room: everyone, in ``#lobby``).  A rate (messages per second over all senders) replaces
    the window: the generator's open loop, so that every server is offered the same load.
    """

    name: str
    clients: int
    senders: int
    messages: int = 0
    window: int = 4
    rooms: int = 1
    rate: float = 0.0
    #: Limit for opening the connections, and for the measured phase.
    connect_timeout: float = 60.0
    timeout: float = 120.0
    #: Servers not run on this shape, and why (reported in the table).
    skip: tuple[tuple[str, str], ...] = ()

    @property
    def idle(self) -> bool:
        return self.senders == 0


#: Floors relay every line to everyone: they have no rooms to compare with.
NO_ROOMS = tuple(
    (floor, "a floor relays to everyone: it has no rooms")
    for floor in (*FLOOR_OF.values(), *(s.name for s in SERVERS.values() if s.kind == "floor"))
)
#: The transport layers are measured under load (10x10, 100x10, the rooms), not idle nor at 1000x10.
LAYERED = tuple(
    (spec.name, "the transport layers are measured at 10x10, 100x10 and in rooms")
    for spec in SERVERS.values()
    if spec.transport != "plain"
)

#: The full run: M chosen so that each run takes a few seconds here.
SHAPES = {
    s.name: s
    for s in (
        Shape(name="10x10", clients=10, senders=10, messages=8000),
        Shape(name="100x10", clients=100, senders=10, messages=2000),
        Shape(name="1000x10", clients=1000, senders=10, messages=250, skip=LAYERED),
        # 1,000 clients in 10 rooms of 100, a sender in each: 99 deliveries a message.
        Shape(name="1000in10rooms", clients=1000, senders=10, messages=2000, rooms=10, skip=NO_ROOMS),
        Shape(name="idle1k", clients=1000, senders=0, connect_timeout=180.0, skip=LAYERED),
        Shape(name="idle10k", clients=10_000, senders=0, connect_timeout=600.0, skip=LAYERED),
    )
}
#: ``--quick``: the same kinds of shapes, small enough for the whole run to take under two minutes.
QUICK_SHAPES = {
    s.name: s
    for s in (
        Shape(name="10x10", clients=10, senders=10, messages=4000),
        Shape(name="100x10", clients=100, senders=10, messages=500),
        Shape(name="1000in10rooms", clients=1000, senders=10, messages=500, rooms=10, skip=NO_ROOMS),
        Shape(name="idle500", clients=500, senders=0, connect_timeout=120.0, skip=LAYERED),
    )
}


@dataclass(slots=True, kw_only=True)
class RunRecord:
    """One server on one shape in one repetition."""

    server: str
    shape: str
    rep: int
    ok: bool
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The generator's result line, or b"" if none came within ``timeout``."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return b""
    return process.stdout.readline()


def run_one(
    spec: ServerSpec,
    shape: Shape,
    rep: int,
    logs: Path,
    tls: TlsFiles | None = None,
    *,
    pin: Pinning | None = None,
) -> RunRecord:
    """Start ``spec``, run the generator on ``shape`` against it, stop both; never hangs."""
    record = RunRecord(server=spec.name, shape=shape.name, rep=rep, ok=False)
    started = time.monotonic()
    try:
        log = logs / f"{spec.name}-{shape.name}-{rep}.log"
        server = RunningServer(spec, log, tls, cpus=pin.server if pin else None)
    except StartError as exc:
        record.error = f"did not start: {exc}"
        return record
    argv = [
        sys.executable, "-m", "bench.loadgen", "--host", HOST, "--port", str(server.port),
        "--server-pid", str(server.pid), "--dialect", spec.dialect, "--clients", str(shape.clients),
        "--senders", str(shape.senders), "--messages", str(shape.messages), "--window", str(shape.window),
        "--rooms", str(shape.rooms), "--irc-port", str(server.irc_port),
        "--concurrency", str(spec.concurrency), "--connect-timeout", str(shape.connect_timeout),
        "--timeout", str(shape.timeout),
    ]  # fmt: skip
    if shape.rate:
        argv += ["--rate", f"{shape.rate:g}"]
    if spec.transport == "tls":
        assert tls is not None
        argv += ["--tls-ca", str(tls.ca)]
    gen_log = (logs / f"loadgen-{spec.name}-{shape.name}-{rep}.log").open("wb")
    generator = subprocess.Popen(
        pinned(argv, pin.loadgen if pin else None),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=gen_log,
        start_new_session=True,
    )
    try:
        line = _read_line(generator, shape.connect_timeout + shape.timeout + 30.0)
        if line:
            record.result = json.loads(line)
            record.ok = bool(record.result.get("ok"))
            record.error = str(record.result.get("error", ""))
        else:
            record.error = "the load generator gave no result in time"
        status = server.exit_status()
        if not record.ok and status is None:  # a crash may take a moment to reap
            with contextlib.suppress(subprocess.TimeoutExpired):
                status = server.process.wait(2.0)
        if status is not None:
            record.ok = False
            record.error = f"{record.error}; server exited with status {status}{server.log_tail(1)}"
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            assert generator.stdin is not None
            generator.stdin.close()
        try:
            generator.wait(30)
        except subprocess.TimeoutExpired:
            generator.kill()
            generator.wait(10)
        gen_log.close()
    record.wall_s = time.monotonic() - started
    return record


def run_matrix(
    servers: Sequence[ServerSpec],
    shapes: Sequence[Shape],
    reps: int,
    progress: Callable[[str], None],
    pin: Pinning | None = None,
) -> list[RunRecord]:
    """Every server on every shape, ``reps`` times; the order of servers rotates each repetition.

    A server that does not start on its first try is skipped from then on, with the reason kept.
    With ``pin``, every server and every generator run on the CPUs it names.
    """
    records: list[RunRecord] = []
    unstartable: dict[str, str] = {}  # never started in this run: not tried again
    started: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="sansio-bench-") as tmp:
        logs = Path(tmp)
        tls = make_tls_files(logs) if any(spec.transport == "tls" for spec in servers) else None
        for rep in range(reps):
            for shape in shapes:
                turn = rep % len(servers)
                for spec in [*servers[turn:], *servers[:turn]]:
                    skipped = dict(shape.skip).get(spec.family) or unstartable.get(spec.name)
                    if skipped:
                        record = RunRecord(server=spec.name, shape=shape.name, rep=rep, ok=False)
                        record.error = skipped
                    else:
                        record = run_one(spec, shape, rep, logs, tls, pin=pin)
                        if record.error.startswith("did not start") and spec.name not in started:
                            unstartable[spec.name] = record.error
                        else:
                            started.add(spec.name)
                    records.append(record)
                    progress(_progress_line(record))
    return records


def _progress_line(record: RunRecord) -> str:
    head = f"rep {record.rep} {record.shape:>8} {record.server:>14}"
    result = record.result
    if not record.ok:
        return f"{head}  FAILED ({record.wall_s:.1f}s): {record.error[:300]}"
    if result.get("senders"):
        return (
            f"{head}  {result['deliveries_per_s']:>9.0f} deliveries/s  p50 {result['p50_us'] / 1000:6.2f} ms"
            f"  p99 {result['p99_us'] / 1000:6.2f} ms  server {result['server_cpu_us_per_delivery']:.3f}"
            f" us/delivery  ({record.wall_s:.1f}s)"
        )
    return (
        f"{head}  {result['rss_per_conn_bytes']:>7.0f} B RSS/connection, opened in {result['connect_s']:.1f}s"
        f" ({result['open_server_cpu_s']:.1f}s server CPU)  ({record.wall_s:.1f}s)"
    )


# -- summary ------------------------------------------------------------------

#: The figures summarised per server and shape (medians over the repetitions that succeeded).
FIGURES = (
    "deliveries_per_s",
    "messages_per_s",
    "p50_us",
    "p99_us",
    "server_cpu_us_per_delivery",
    "rss_per_conn_bytes",
    "connect_s",
    "open_server_cpu_s",
)


def summarise(records: Iterable[RunRecord]) -> dict[str, dict[str, dict[str, Any]]]:
    """shape -> server -> {figure: median, "reps": n ok, "failed": [errors]}."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    grouped: dict[tuple[str, str], list[RunRecord]] = {}
    for record in records:
        grouped.setdefault((record.shape, record.server), []).append(record)
    for (shape, server), group in grouped.items():
        good = [r.result for r in group if r.ok]
        entry: dict[str, Any] = {"reps": len(good), "failed": [r.error for r in group if not r.ok]}
        for name in FIGURES:
            values = [float(r[name]) for r in good if r.get(name)]
            if values:
                entry[name] = statistics.median(values)
        summary.setdefault(shape, {})[server] = entry
    return summary


def paired_ratio(
    records: Sequence[RunRecord], shape: str, top: str, bottom: str, figure: str
) -> tuple[float, int] | None:
    """Median over repetitions of top/bottom, each ratio taken within one repetition (side by side)."""
    by_rep: dict[int, dict[str, float]] = {}
    for r in records:
        if r.shape == shape and r.ok and r.server in (top, bottom) and r.result.get(figure):
            by_rep.setdefault(r.rep, {})[r.server] = float(r.result[figure])
    ratios = [v[top] / v[bottom] for v in by_rep.values() if top in v and bottom in v]
    return (statistics.median(ratios), len(ratios)) if ratios else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One target (of issue #4, or #10 for IRC) and how the run measured against it."""

    what: str
    value: float | None
    target: str
    met: bool | None  # None: not measured in this run
    reps: int = 0


def targets(records: Sequence[RunRecord], summary: dict[str, dict[str, dict[str, Any]]]) -> list[Check]:
    checks: list[Check] = []
    cpu = "server_cpu_us_per_delivery"

    def ratio_check(what: str, *, shape: str, top: str, bottom: str, figure: str, limit: float) -> None:
        found = paired_ratio(records, shape, top, bottom, figure)
        value, n = found if found else (None, 0)
        met = None if value is None else value <= limit
        checks.append(Check(what=what, value=value, target=f"<= {limit:g}x", met=met, reps=n))

    for backend in ("asyncio", "select"):
        floor = FLOOR_OF[backend]
        for shape, limit in (("10x10", 2.0), ("100x10", 1.2), ("1000x10", 1.2)):
            what = f"{backend} / {floor} server CPU per delivery, {shape}"
            ratio_check(what, shape=shape, top=backend, bottom=floor, figure=cpu, limit=limit)
    what = "threads / asyncio server CPU per delivery, 100x10"
    ratio_check(what, shape="100x10", top="threads", bottom="asyncio", figure=cpu, limit=3.0)
    for backend in ("select", "threads", "asyncio"):  # issue 11: WebSocket clients against plain TCP ones
        what = f"{backend}-web / {backend} server CPU per delivery, 100x10"
        ratio_check(what, shape="100x10", top=f"{backend}-web", bottom=backend, figure=cpu, limit=1.3)
    for backend in ("asyncio", "select"):  # issue 11: TLS clients against asyncio's own TLS transport
        what = f"{backend}-tls / floor-tls server CPU per delivery, 100x10"
        ratio_check(what, shape="100x10", top=f"{backend}-tls", bottom="floor-tls", figure=cpu, limit=1.2)
    for backend in ("asyncio", "select"):
        p99 = summary.get("100x10", {}).get(backend, {}).get("p99_us")
        value = None if p99 is None else p99 / 1000
        met = None if value is None else value <= 5.0
        checks.append(
            Check(what=f"{backend} p99 latency at 100x10 (ms)", value=value, target="<= 5 ms", met=met)
        )
    for backend, limit in (("asyncio", 2.5), ("select", 1.0)):
        per_conn = summary.get("idle10k", {}).get(backend, {}).get("rss_per_conn_bytes")
        value = None if per_conn is None else per_conn / 1024
        met = None if value is None else value <= limit
        checks.append(
            Check(
                what=f"{backend} RSS per idle connection, 10k (KiB)",
                value=value,
                target=f"<= {limit:g} KiB",
                met=met,
            )
        )
    for backend in ("select", "threads", "asyncio"):  # issue #10: IRC clients cost about what text ones do
        for shape in ("100x10", "1000x10"):
            what = f"{backend}-irc / {backend} server CPU per delivery, {shape}"
            ratio_check(what, shape=shape, top=f"{backend}-irc", bottom=backend, figure=cpu, limit=1.2)
            what = f"{backend}-mixed / {backend} server CPU per delivery, {shape}"
            ratio_check(what, shape=shape, top=f"{backend}-mixed", bottom=backend, figure=cpu, limit=1.3)
        for shape in ("10x10", "100x10", "1000x10", "1000in10rooms"):
            found = paired_ratio(records, shape, f"{backend}-irc", "miniircd", cpu)
            p99 = paired_ratio(records, shape, f"{backend}-irc", "miniircd", "p99_us")
            what = f"{backend}-irc / miniircd server CPU per delivery, {shape}"
            if found is None or p99 is None:
                checks.append(Check(what=what, value=None, target="< 1x, p99 < 1x", met=None))
                continue
            checks.append(
                Check(
                    what=f"{what} (p99 ratio {p99[0]:.2f})",
                    value=found[0],
                    target="< 1x, p99 < 1x",
                    met=found[0] < 1.0 and p99[0] < 1.0,
                    reps=found[1],
                )
            )
    for backend in ("select", "threads", "asyncio"):
        for shape in ("10x10", "100x10", "1000x10"):
            found = paired_ratio(records, shape, backend, "miniircd", "deliveries_per_s")
            p99 = paired_ratio(records, shape, backend, "miniircd", "p99_us")
            if found is None or p99 is None:
                checks.append(
                    Check(what=f"{backend} vs miniircd, {shape}: deliveries/s and p99", value=None,
                          target="ahead on both", met=None)
                )  # fmt: skip
                continue
            checks.append(
                Check(
                    what=f"{backend} / miniircd deliveries/s, {shape} (p99 ratio {p99[0]:.2f})",
                    value=found[0],
                    target="> 1x, p99 < 1x",
                    met=found[0] > 1.0 and p99[0] < 1.0,
                    reps=found[1],
                )
            )
    return checks


def code_fingerprint() -> str:
    """A hash of the code under test (the core and the backends), to tell if it changed during a run."""
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("sansio_chat/*.py"), *ROOT.glob("adapters/**/*.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        info["commit"] = rev.stdout.strip()
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional

        info["uvloop"] = str(getattr(uvloop, "__version__", "?"))
    return info


def save(document: dict[str, Any], name: str, *, latest: bool = True) -> Path:
    """Write the results as ``name`` in bench/results/, and as latest.json unless told not to."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1) + "\n"
    path = RESULTS_DIR / name
    path.write_text(text)
    if latest:
        (RESULTS_DIR / "latest.json").write_text(text)
    return path


def records_to_json(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]


def records_from_json(items: Iterable[dict[str, Any]]) -> list[RunRecord]:
    return [RunRecord(**item) for item in items]


def checks_to_json(checks: Sequence[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]


def all_servers() -> list[ServerSpec]:
    return list(SERVERS.values())
